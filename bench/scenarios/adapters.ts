/**
 * bench/adapters: the Node stream adapters (issue 10), each side by side with
 * plain Node in one run.
 *
 * (a) http: the same node:http hello-world app (keep-alive), once on
 *     `server.listen()` (bench/servers/http-node.ts) and once served over
 *     uringmachine connections with serveHttp (bench/servers/http-node-um.ts),
 *     each a child process driven by `wrk -t1 -c<CONNS> -d<DURATION>s`;
 *     medians of RUNS runs of requests/s and of the server's CPU time per
 *     request (utime + stime from /proc/<pid>/stat).
 * (b) file to socket: a FILE_MIB MiB file (page cache warm: written, then
 *     read once before timing) sent over loopback TCP to a reader process
 *     (bench/servers/sink.ts: counts to EOF, answers the count), through
 *       - fs.createReadStream + net.Socket (`rs.pipe(socket)`),
 *       - m.toReadable(fd) piped into m.toDuplex(socket fd),
 *       - m.toReadable(fd) piped into a net.Socket;
 *     time from the first read to the reader's answer; median of RUNS.
 *     Every contender uses the same highWaterMark (HWM, default 65536).
 * Env: CONNS (50), DURATION (5 s), WARMUP (2 s), RUNS (3), FILE_MIB (1024),
 * HWM (65536); BENCH_SMOKE=1: 1 s of wrk, no warm-up, 1 run, FILE_MIB 8.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, createReadStream, openSync, readSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

import { UringMachine } from 'uringmachine';

import { cpuTimes, exists, fmt, loadavg, median, nodeServer, runLoad, smoke, startServer, stopServer, table } from '../lib/net.js';

const CONNS = Number(process.env.CONNS ?? 50);
const DURATION = Number(process.env.DURATION ?? (smoke ? 1 : 5));
const WARMUP = Number(process.env.WARMUP ?? (smoke ? 0 : 2));
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));
const FILE_MIB = Number(process.env.FILE_MIB ?? (smoke ? 8 : 1024));
const HWM = Number(process.env.HWM ?? 65536);

// ---- (a) http --------------------------------------------------------------------

const httpServers = [
  nodeServer('node:http on server.listen()', 'out/bench/servers/http-node.js'),
  nodeServer('node:http over uringmachine (serveHttp)', 'out/bench/servers/http-node-um.js'),
];

function wrkRun(port: number, secs: number): Promise<{ requests: number; rps: number }> {
  return runLoad('wrk', ['-t1', `-c${CONNS}`, `-d${secs}s`, `http://127.0.0.1:${port}/`], {}, (secs + 30) * 1000).then((out) => {
    const total = /(\d+) requests in/.exec(out);
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
    if (!total || !rps) throw new Error(`cannot read wrk's output:\n${out}`);
    const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    if (errors && errors.slice(1).some((n) => Number(n) > 0)) throw new Error(`wrk: ${errors[0]}`);
    if (/Non-2xx or 3xx responses/.test(out)) throw new Error('wrk: non-2xx responses');
    return { requests: Number(total[1]), rps: Number(rps[1]) };
  });
}

async function httpBench(): Promise<void> {
  if (spawnSync('wrk', ['-v']).error) {
    console.log('\n### adapters (a) http: skipped (wrk not installed; `npm run bench` with BENCH=http installs it)\n');
    return;
  }
  const rows: string[][] = [];
  let base = NaN;
  let baseCpu = NaN;
  for (const spec of httpServers) {
    if (!exists(spec)) {
      rows.push([spec.name, '(not built)', '', '', '']);
      continue;
    }
    const s = await startServer(spec);
    try {
      if (WARMUP > 0) await wrkRun(s.port, WARMUP);
      const rps: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const c0 = cpuTimes(s.proc.pid!);
        const w = await wrkRun(s.port, DURATION);
        const c1 = cpuTimes(s.proc.pid!);
        rps.push(w.rps);
        cpu.push(((c1.user + c1.system - c0.user - c0.system) / w.requests) * 1e6);
      }
      const r = median(rps);
      const c = median(cpu);
      if (Number.isNaN(base)) {
        base = r;
        baseCpu = c;
      }
      rows.push([spec.name, fmt(r), `${(r / base).toFixed(2)}×`, c.toFixed(1), `${(c / baseCpu).toFixed(2)}×`]);
    } catch (e) {
      console.error(`${spec.name}:`, e);
      rows.push([spec.name, `(failed: ${String((e as Error).message).split('\n')[0]})`, '', '', '']);
      process.exitCode = 1;
    } finally {
      await stopServer(s);
    }
  }
  console.log(`\n### adapters (a) — the same node:http app, wrk -t1 -c${CONNS} -d${DURATION}s keep-alive (node ${process.version}; median of ${RUNS})\n`);
  console.log(table(['server', 'requests/s', 'vs listen()', 'server CPU µs/request', 'CPU vs listen()'], rows));
}

// ---- (b) file to socket ----------------------------------------------------------

/** Pipe `src` into `sock` and resolve the byte count the sink answers. */
function sendTo(src: Readable, sock: Writable & Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let reply = '';
    sock.on('data', (c: Buffer) => (reply += c.toString()));
    sock.on('end', () => resolve(Number(reply)));
    sock.on('error', reject);
    src.on('error', reject);
    src.pipe(sock);
  });
}

async function fileBench(): Promise<void> {
  const path = join(tmpdir(), `um-bench-adapters-${process.pid}.bin`);
  const size = FILE_MIB << 20;
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
  const w = openSync(path, 'w');
  for (let i = 0; i < FILE_MIB; i++) writeSync(w, block);
  closeSync(w);
  // Warm the page cache: both contenders then read from memory.
  const r = openSync(path, 'r');
  while (readSync(r, block, 0, block.length, null) > 0);
  closeSync(r);
  const sink = await startServer(nodeServer('sink', 'out/bench/servers/sink.js'));
  const m = new UringMachine();
  type C = { name: string; run: () => Promise<number> };
  const contenders: C[] = [
    {
      name: 'fs.createReadStream + net.Socket',
      run: async () => {
        const sock = net.connect(sink.port, '127.0.0.1');
        await new Promise((res) => sock.once('connect', res));
        return sendTo(createReadStream(path, { highWaterMark: HWM }), sock);
      },
    },
    {
      name: 'm.toReadable + m.toDuplex',
      run: async () => {
        const fd = await m.tcpConnect('127.0.0.1', sink.port);
        const file = await m.open(path);
        return sendTo(m.toReadable(file, { highWaterMark: HWM }), m.toDuplex(fd, { highWaterMark: HWM }) as Writable & Readable);
      },
    },
    {
      name: 'm.toReadable + net.Socket',
      run: async () => {
        const sock = net.connect(sink.port, '127.0.0.1');
        await new Promise((res) => sock.once('connect', res));
        const file = await m.open(path);
        return sendTo(m.toReadable(file, { highWaterMark: HWM }), sock);
      },
    },
  ];
  const results: number[][] = contenders.map(() => []);
  try {
    // Interleaved, so drift in the machine's load hits every contender alike.
    for (let i = 0; i < RUNS; i++) {
      for (let j = 0; j < contenders.length; j++) {
        const t0 = process.hrtime.bigint();
        const n = await contenders[j]!.run();
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        if (n !== size) throw new Error(`${contenders[j]!.name}: the sink got ${n} bytes, not ${size}`);
        results[j]!.push(size / secs / 1e6);
      }
    }
  } finally {
    await stopServer(sink);
    m.close();
    rmSync(path, { force: true });
  }
  const base = median(results[0]!);
  console.log(`\n### adapters (b) — a ${FILE_MIB} MiB file (page cache) to a loopback TCP reader, highWaterMark ${HWM} (node ${process.version}; median of ${RUNS})\n`);
  console.log(
    table(
      ['sender', 'MB/s', 'vs fs + net'],
      contenders.map((c, j) => [c.name, fmt(median(results[j]!)), `${(median(results[j]!) / base).toFixed(2)}×`]),
    ),
  );
}

async function main(): Promise<void> {
  console.log(`\nload average ${loadavg()} at start`);
  await httpBench();
  await fileBench();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
