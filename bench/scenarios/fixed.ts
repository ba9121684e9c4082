/**
 * bench/fixed: reading a file in the page cache (on /dev/shm, else the temp
 * directory) with m.read vs m.readFixed (registered buffers: the kernel
 * pinned the pages once, instead of per op). FIBERS fibers, each with its
 * own BLOCK-byte buffer, read disjoint blocks at explicit offsets until
 * PASSES passes over the FILE-byte file are done. Reported: MB/s and CPU
 * per op (user + system of the whole process).
 * Env: FILE (67108864), BLOCK (4096,65536), FIBERS (16), PASSES (4), RUNS (3).
 */
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { UringMachine } from 'uringmachine';

import { fmt, loadavg, median, smoke, table } from '../lib/net.js';

const FILE = Number(process.env.FILE ?? (smoke ? 4 << 20 : 64 << 20));
const BLOCKS = (process.env.BLOCK ?? '4096,65536').split(',').map(Number);
const FIBERS = Number(process.env.FIBERS ?? 16);
const PASSES = Number(process.env.PASSES ?? (smoke ? 1 : 4));
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));

type Result = { mbps: number; cpuUs: number };

async function once(path: string, block: number, fixedBufs: boolean): Promise<Result> {
  const m = new UringMachine();
  const fd = openSync(path, 'r');
  const bufs = Array.from({ length: FIBERS }, () => Buffer.allocUnsafeSlow(block));
  if (fixedBufs) await m.registerBuffers(bufs);
  const blocks = Math.floor(FILE / block);
  const total = blocks * PASSES;
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const fibers = bufs.map((buf, i) =>
    m.spin(async () => {
      for (;;) {
        const k = next++;
        if (k >= total) return;
        const off = (k % blocks) * block;
        const n = fixedBufs ? await m.readFixed(fd, i, block, 0, off) : await m.read(fd, buf, block, 0, off);
        if (n !== block) throw new Error(`short read ${n}`);
      }
    }),
  );
  await m.join(fibers);
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  if (fixedBufs) await m.unregisterBuffers();
  closeSync(fd);
  m.close();
  return { mbps: (total * block) / 1e6 / (ns / 1e9), cpuUs: (cpu.user + cpu.system) / total };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'um-bench-fixed-'));
  const path = join(dir, 'data');
  writeFileSync(path, Buffer.alloc(FILE, 0x33));
  const load = loadavg();
  const rows: string[][] = [];
  try {
    for (const block of BLOCKS) {
      let base: Result | null = null;
      for (const fixedBufs of [false, true]) {
        const rs: Result[] = [];
        for (let i = 0; i < RUNS; i++) rs.push(await once(path, block, fixedBufs));
        const r = { mbps: median(rs.map((x) => x.mbps)), cpuUs: median(rs.map((x) => x.cpuUs)) };
        base ??= r;
        rows.push([`${block / 1024} KiB`, fixedBufs ? 'readFixed' : 'read', fmt(r.mbps), `${(r.mbps / base.mbps).toFixed(2)}×`, r.cpuUs.toFixed(2), `${(r.cpuUs / base.cpuUs).toFixed(2)}×`]);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\n### fixed — page-cache file of ${fmt(FILE / (1 << 20))} MiB × ${PASSES} passes, ${FIBERS} fibers, read vs readFixed (node ${process.version}; median of ${RUNS}; load average ${load} at start)\n`,
  );
  console.log(table(['block', 'op', 'MB/s', 'vs read', 'CPU µs/op', 'CPU vs read'], rows));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
