/**
 * bench/fixed: reading a file in the page cache (on /dev/shm, else the temp
 * directory) with m.read vs m.readFixed (registered buffers: the kernel
 * pinned the pages once, instead of per op). FIBERS fibers, each with its
 * own BLOCK-byte buffer, read disjoint blocks at explicit offsets until
 * PASSES passes over the FILE-byte file are done. Reported: MB/s and CPU
 * per op (user + system of the whole process).
 * Env: FILE (67108864), BLOCK (4096,65536), FIBERS (16), PASSES (4), RUNS (3).
 *
 * Second part, accept + recv/send with and without fixed files: the server
 * bench/servers/um-echo-direct.ts (its own child process) in mode fd
 * (m.accept, recv/send on fds), direct (m.acceptDirect into the ring's file
 * table, recv/send on the DirectFd) and direct-zc-fixed (direct, replies
 * with sendZcFixed from a registered buffer). All three servers are started
 * once and driven in turn, A/B/C per run, by the same load:
 *   - connections: CONN_TOTAL connections from this process (a
 *     uringmachine client, CONC at a time), each connect + one 64 B round
 *     trip + close; connections/s and the server's CPU per connection;
 *   - round trips: bench/bin/echo_client, CONNS x ROUNDS round trips of
 *     SIZE B; round trips/s and the server's CPU per round trip
 *     (utime + stime from /proc/<pid>/stat).
 * Env: CONN_TOTAL (4000), CONC (32), CONNS (50), ROUNDS (2000), SIZE (64),
 * NET_RUNS (5); PART (read | net | all, default all).
 */
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { constants as C, UringMachine } from 'uringmachine';

import { cpuTimes, fmt, loadavg, median, root, runLoad, smoke, startServer, stopServer, table, type Server, type ServerSpec } from '../lib/net.js';

const FILE = Number(process.env.FILE ?? (smoke ? 4 << 20 : 64 << 20));
const BLOCKS = (process.env.BLOCK ?? '4096,65536').split(',').map(Number);
const FIBERS = Number(process.env.FIBERS ?? 16);
const PASSES = Number(process.env.PASSES ?? (smoke ? 1 : 4));
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));
const PART = process.env.PART ?? 'all';
const CONN_TOTAL = Number(process.env.CONN_TOTAL ?? (smoke ? 200 : 4000));
const CONC = Number(process.env.CONC ?? 32);
const CONNS = Number(process.env.CONNS ?? (smoke ? 10 : 50));
const ROUNDS = Number(process.env.ROUNDS ?? (smoke ? 200 : 2000));
const SIZE = Number(process.env.SIZE ?? 64);
const NET_RUNS = Number(process.env.NET_RUNS ?? (smoke ? 1 : 5));

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

async function readPart(): Promise<void> {
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

const MODES = ['fd', 'direct', 'direct-zc-fixed'] as const;
const client = `${root}bench/bin/echo_client`;

/** CONN_TOTAL connections, CONC at a time: connect, one SIZE-byte round trip, close. Returns seconds. */
async function connections(m: UringMachine, port: number): Promise<number> {
  const out = Buffer.alloc(SIZE, 0x5a);
  let left = CONN_TOTAL;
  const t0 = process.hrtime.bigint();
  const fibers = Array.from({ length: CONC }, () =>
    m.spin(async () => {
      const buf = Buffer.alloc(SIZE);
      while (left-- > 0) {
        const fd = await m.socket(C.AF_INET!, C.SOCK_STREAM!);
        try {
          await m.connect(fd, '127.0.0.1', port);
          await m.send(fd, out);
          let got = 0;
          while (got < SIZE) {
            const n = await m.recv(fd, buf.subarray(got));
            if (n === 0) throw new Error('EOF before the echo');
            got += n;
          }
        } finally {
          await m.close(fd);
        }
      }
    }),
  );
  await m.join(fibers);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

type NetResult = { cps: number; cpuConn: number; rps: number; cpuRt: number };

async function netOnce(m: UringMachine, s: Server): Promise<NetResult> {
  const pid = s.proc.pid!;
  let c0 = cpuTimes(pid);
  const secs = await connections(m, s.port);
  let c1 = cpuTimes(pid);
  const cpuConn = ((c1.user + c1.system - c0.user - c0.system) / CONN_TOTAL) * 1e6;
  const env = { PORT: String(s.port), CONNS: String(CONNS), ROUNDS: String(ROUNDS), SIZE: String(SIZE), WARMUP: '0' };
  c0 = cpuTimes(pid);
  const out = JSON.parse(await runLoad(client, [], env, 120_000)) as { roundTrips: number; rps: number };
  c1 = cpuTimes(pid);
  return { cps: CONN_TOTAL / secs, cpuConn, rps: out.rps, cpuRt: ((c1.user + c1.system - c0.user - c0.system) / out.roundTrips) * 1e6 };
}

async function netPart(): Promise<void> {
  if (!existsSync(client)) throw new Error(`${client} missing: run bench/c/build.sh`);
  const file = `${root}out/bench/servers/um-echo-direct.js`;
  const specs: ServerSpec[] = MODES.map((mode) => ({ name: mode, cmd: process.execPath, args: [file, mode], file }));
  const load = loadavg();
  const servers: Server[] = [];
  const m = new UringMachine();
  try {
    for (const spec of specs) servers.push(await startServer(spec));
    // Warm-up: a short load on each (JIT, socket memory), not measured.
    for (const s of servers) {
      await runLoad(client, [], { PORT: String(s.port), CONNS: String(CONNS), ROUNDS: '200', SIZE: String(SIZE), WARMUP: '0' }, 60_000);
    }
    const rs: NetResult[][] = MODES.map(() => []);
    // Alternating: fd, direct, direct-zc-fixed, fd, ... so that load from
    // other processes falls on every mode alike.
    for (let i = 0; i < NET_RUNS; i++) for (let k = 0; k < servers.length; k++) rs[k]!.push(await netOnce(m, servers[k]!));
    const med = rs.map((list) => ({
      cps: median(list.map((x) => x.cps)),
      cpuConn: median(list.map((x) => x.cpuConn)),
      rps: median(list.map((x) => x.rps)),
      cpuRt: median(list.map((x) => x.cpuRt)),
    }));
    const b = med[0]!;
    console.log(
      `\n### fixed files — accept + recv/send on fds vs direct descriptors: ${fmt(CONN_TOTAL)} connections (${CONC} at a time, one ${SIZE} B round trip each), then ${CONNS} connections × ${fmt(ROUNDS)} round trips (node ${process.version}; median of ${NET_RUNS}, modes alternated; load average ${load} at start)\n`,
    );
    const rows = MODES.map((mode, i) => {
      const r = med[i]!;
      return [
        mode,
        fmt(r.cps),
        `${(r.cps / b.cps).toFixed(2)}×`,
        r.cpuConn.toFixed(1),
        `${(r.cpuConn / b.cpuConn).toFixed(2)}×`,
        fmt(r.rps),
        `${(r.rps / b.rps).toFixed(2)}×`,
        r.cpuRt.toFixed(2),
        `${(r.cpuRt / b.cpuRt).toFixed(2)}×`,
      ];
    });
    console.log(table(['server mode', 'connections/s', 'vs fd', 'server CPU µs/conn', 'vs fd', 'round trips/s', 'vs fd', 'server CPU µs/round trip', 'vs fd'], rows));
  } finally {
    m.close();
    for (const s of servers) await stopServer(s);
  }
}

async function main(): Promise<void> {
  if (PART === 'read' || PART === 'all') await readPart();
  if (PART === 'net' || PART === 'all') await netPart();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
