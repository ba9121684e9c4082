/**
 * bench/udp: UDP echo servers, each in its own process, loaded by the same
 * C client (bench/bin/udp_client, built by bench/c/build.sh): SOCKS
 * connected sockets, each keeping WINDOW datagrams of SIZE bytes in flight
 * (a reply is answered by a new datagram at once), recvmmsg/sendmmsg
 * batches on epoll, every echo checked (length, socket, bytes). The window
 * keeps the server busy, so its speed sets the rate, and the client costs
 * less CPU per datagram than any server here (printed, to show it).
 * Contenders, run alternately (a, b, b2, c, d, a, b, ... for RUNS rounds, a
 * fresh server process per run):
 *   (a) node:dgram: 'message' -> socket.send(msg, port, address)
 *   (b) examples/udp-echo --each: m.recvmsgEach + m.sendto(host, port) per datagram
 *   (b2) examples/udp-echo --raw: m.recvmsgEach + m.sendtoBatch(fd, [d]) per datagram
 *        (the reply to the raw address bytes: (b) -> (b2) is the address
 *        work, (b2) -> (c) the batching)
 *   (c) examples/udp-echo: m.recvmsgBatches + m.sendtoBatch (raw addresses, one promise per batch)
 *   (d) bench/bin/udp_server: C on the project's ring (multishot recvmsg, sends
 *       straight from the pool buffers; the ceiling)
 * Reported per contender: the median datagrams/s, the median of each
 * round's ratio to (a), the server's CPU per datagram (user+system from
 * /proc/<pid>/stat over the run, warm-up included, divided by every echo
 * of the run), the median of each round's (a)/(x) CPU ratio (datagrams per
 * server CPU-second relative to node:dgram: what the rate ratio becomes
 * when each server has a core to itself, which a shared machine does not
 * give) and the client's CPU per datagram.
 * PROCS client processes run at once (1 by default), each with SOCKS
 * sockets: the client costs 3.5-5.5 µs of CPU per datagram (mostly the
 * kernel's UDP send path), close to the fastest servers, and when the
 * machine is shared each runnable process gets about the same share of a
 * core, so a single client process can co-limit the rate (PROCS=2 did not
 * change the picture at a load of 12-14: both servers slowed alike).
 * Env: SOCKS (32, per client process), WINDOW (4), SIZE (64), DURATION (3 s),
 * RUNS (5), PROCS (2), ONLY (e.g. a,c: those contenders).
 */
import { existsSync } from 'node:fs';

import {
  binServer,
  cpuTimes,
  fmt,
  loadavg,
  median,
  root,
  runLoad,
  smoke,
  startServer,
  stopServer,
  table,
  type ServerSpec,
} from '../lib/net.js';

const SOCKS = process.env.SOCKS ?? '32';
const WINDOW = process.env.WINDOW ?? '4';
const SIZE = process.env.SIZE ?? '64';
const DURATION = process.env.DURATION ?? (smoke ? '0.3' : '3');
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 5));
/** Client processes, each with SOCKS sockets (see above). */
const PROCS = Number(process.env.PROCS ?? 1);
const client = `${root}bench/bin/udp_client`;

const dgramServer = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (msg, r) => s.send(msg, r.port, r.address));
s.bind(Number(process.env.PORT), '127.0.0.1', () => console.log('listening ' + s.address().port));
process.on('SIGTERM', () => s.close());
`;

const echo = `${root}out/examples/udp-echo.js`;
const servers: ServerSpec[] = [
  { name: '(a) node:dgram', cmd: process.execPath, args: ['-e', dgramServer], file: process.execPath },
  { name: '(b) uringmachine recvmsgEach + sendto', cmd: process.execPath, args: [echo, '--each'], file: echo },
  { name: '(b2) uringmachine recvmsgEach + sendtoBatch([d]) (raw address)', cmd: process.execPath, args: [echo, '--raw'], file: echo },
  { name: '(c) uringmachine recvmsgBatches + sendtoBatch', cmd: process.execPath, args: [echo], file: echo },
  binServer('(d) C on our ring (bench/bin/udp_server)', 'bench/bin/udp_server'),
];

type Run = { rate: number; serverUs: number; clientUs: number; lost: number };

async function one(spec: ServerSpec): Promise<Run> {
  const s = await startServer(spec);
  try {
    const c0 = cpuTimes(s.proc.pid!);
    const outs = await Promise.all(
      Array.from({ length: PROCS }, () => runLoad(client, [String(s.port)], { SOCKS, WINDOW, SIZE, DURATION }, 60000)),
    );
    const c1 = cpuTimes(s.proc.pid!);
    const rs = outs.map(
      (out) =>
        JSON.parse(out.trim().split('\n').pop()!) as {
          datagrams: number;
          rate: number;
          lost: number;
          bad: number;
          allDatagrams: number;
          clientCpuSeconds: number;
        },
    );
    const sum = (f: (r: (typeof rs)[number]) => number): number => rs.reduce((a, r) => a + f(r), 0);
    if (sum((r) => r.bad) > 0) throw new Error(`${spec.name}: ${sum((r) => r.bad)} bad echoes`);
    const cpu = c1.user + c1.system - c0.user - c0.system;
    return {
      rate: sum((r) => r.rate),
      serverUs: (cpu / sum((r) => r.allDatagrams)) * 1e6,
      clientUs: (sum((r) => r.clientCpuSeconds) / sum((r) => r.datagrams)) * 1e6,
      lost: sum((r) => r.lost),
    };
  } finally {
    await stopServer(s);
  }
}

async function main(): Promise<void> {
  if (!existsSync(client)) throw new Error(`${client} missing: run bench/c/build.sh`);
  const lavg = loadavg();
  // ONLY=a,c: run just those contenders (the letter in parentheses).
  const only = process.env.ONLY?.split(',');
  const present = servers.filter((s) => existsSync(s.file) && (only === undefined || only.includes(/^\((\w+)\)/.exec(s.name)![1]!)));
  const runs = new Map<string, Run[]>(present.map((s) => [s.name, []]));
  const ratios = new Map<string, number[]>(present.map((s) => [s.name, []]));
  const cpuRatios = new Map<string, number[]>(present.map((s) => [s.name, []]));
  for (let i = 0; i < RUNS; i++) {
    let base = NaN;
    let baseUs = NaN;
    for (const spec of present) {
      const r = await one(spec);
      runs.get(spec.name)!.push(r);
      if (Number.isNaN(base)) {
        base = r.rate;
        baseUs = r.serverUs;
      }
      ratios.get(spec.name)!.push(r.rate / base);
      cpuRatios.get(spec.name)!.push(baseUs / r.serverUs);
      console.error(`round ${i + 1}: ${spec.name}: ${fmt(r.rate)}/s, server ${r.serverUs.toFixed(2)} µs, client ${r.clientUs.toFixed(2)} µs, lost ${r.lost}`);
    }
  }
  const lavgEnd = loadavg();
  const rows = present.map((spec) => {
    const rs = runs.get(spec.name)!;
    return [
      spec.name,
      fmt(median(rs.map((r) => r.rate))),
      `${median(ratios.get(spec.name)!).toFixed(2)}×`,
      median(rs.map((r) => r.serverUs)).toFixed(2),
      `${median(cpuRatios.get(spec.name)!).toFixed(2)}×`,
      median(rs.map((r) => r.clientUs)).toFixed(2),
      String(rs.reduce((a, r) => a + r.lost, 0)),
    ];
  });
  console.log(
    `\n### udp — echo of ${SIZE} B datagrams, ${PROCS} client processes × ${SOCKS} sockets × ${WINDOW} in flight, ${DURATION} s per run (node ${process.version}; median of ${RUNS} alternating rounds; load average ${lavg} at start, ${lavgEnd} at end)\n`,
  );
  console.log(table(['server', 'datagrams/s', 'vs node:dgram (median of per-round ratios)', 'server CPU µs/datagram', 'datagrams per server CPU-second vs node:dgram', 'client CPU µs/datagram', 'lost'], rows));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
