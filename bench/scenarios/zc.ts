/**
 * bench/zc: one loopback TCP connection, a sender fiber sending TOTAL bytes
 * in messages of SIZE bytes and a receiver fiber reading them into a 1 MiB
 * buffer, in one machine. Contenders per size: m.send (copying) and m.sendZc
 * (IORING_OP_SEND_ZC). Each message is sent completely (short sends are
 * resumed); the sender reuses one buffer, which a real program could only do
 * after each notification (it measures the transport, not the bytes).
 * Reported: MB/s, process CPU per MiB, and for sendZc how many
 * notifications said the kernel copied the data after all (loopback
 * delivery copies zero-copy pages into the receiver's skb: the pages cannot
 * be handed to another socket).
 * Env: SIZES (65536,262144,1048576), TOTAL (134217728), RUNS (3).
 */
import { readFileSync, readlinkSync } from 'node:fs';

import { constants as C, UringMachine } from 'uringmachine';

import { fmt, loadavg, median, smoke, table } from '../lib/net.js';

const SIZES = (process.env.SIZES ?? '65536,262144,1048576').split(',').map(Number);
const TOTAL = Number(process.env.TOTAL ?? (smoke ? 8 << 20 : 128 << 20));
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));

function localPort(fd: number): number {
  const ino = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[9] === ino) return parseInt(f[1]!.split(':')[1]!, 16);
  }
  throw new Error('port not found');
}

type Result = { mbps: number; cpuMsPerMiB: number; copied: string };

async function once(size: number, zc: boolean): Promise<Result> {
  const m = new UringMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const port = localPort(lfd);
  const accepting = m.accept(lfd);
  const c = await m.tcpConnect('127.0.0.1', port);
  const s = await accepting;
  await m.close(lfd);
  const msg = Buffer.alloc(size, 0x5a);
  const count = Math.max(1, Math.floor(TOTAL / size));
  const bytes = count * size;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const sender = m.spin(async () => {
    for (let i = 0; i < count; i++) {
      let off = 0;
      while (off < size) {
        const n = zc ? await m.sendZc(s, msg.subarray(off)) : await m.send(s, msg.subarray(off));
        off += n;
      }
    }
  });
  const receiver = m.spin(async () => {
    const buf = Buffer.allocUnsafe(1 << 20);
    let got = 0;
    while (got < bytes) {
      const n = await m.recv(c, buf);
      if (n === 0) throw new Error('early EOF');
      got += n;
    }
  });
  await m.join([sender, receiver]);
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  const st = m.zcStats();
  for (let i = 0; i < 1000 && m.zcStats().inFlight > 0; i++) await m.sleep(1);
  await m.close(s);
  await m.close(c);
  m.close();
  const mib = bytes / (1 << 20);
  return {
    mbps: bytes / 1e6 / (ns / 1e9),
    cpuMsPerMiB: (cpu.user + cpu.system) / 1000 / mib,
    copied: zc ? `${st.copied}/${st.notifications}` : '',
  };
}

async function main(): Promise<void> {
  void C;
  const load = loadavg();
  const rows: string[][] = [];
  for (const size of SIZES) {
    let base = NaN;
    for (const zc of [false, true]) {
      const rs: Result[] = [];
      for (let i = 0; i < RUNS; i++) rs.push(await once(size, zc));
      const mbps = median(rs.map((r) => r.mbps));
      const cpu = median(rs.map((r) => r.cpuMsPerMiB));
      if (!zc) base = mbps;
      rows.push([`${size / 1024} KiB`, zc ? 'sendZc' : 'send', fmt(mbps), `${(mbps / base).toFixed(2)}×`, cpu.toFixed(3), rs[rs.length - 1]!.copied]);
    }
  }
  console.log(`\n### zc — loopback TCP, ${fmt(TOTAL / (1 << 20))} MiB per run, send vs sendZc (node ${process.version}; median of ${RUNS}; load average ${load} at start)\n`);
  console.log(table(['message', 'op', 'MB/s', 'vs send', 'CPU ms/MiB (both fibers)', 'notifications copied'], rows));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
