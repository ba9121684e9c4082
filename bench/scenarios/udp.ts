/**
 * bench/udp: a UDP echo server in its own process, loaded by CLIENTS
 * client sockets of this process (uringmachine fibers, each a ping-pong
 * loop of sendto + recvfrom of SIZE bytes, ROUNDS round trips). Servers:
 * (a) node:dgram ('message' -> socket.send), (b) examples/udp-echo
 * (m.recvmsgEach + m.sendto). Reported: datagrams echoed per second and the
 * server's CPU per datagram (from /proc/<pid>/stat).
 * Env: CLIENTS (32), ROUNDS (2000), SIZE (64), RUNS (3).
 */
import { spawn, type ChildProcess } from 'node:child_process';

import { constants as C, UringMachine } from 'uringmachine';

import { cpuTimes, fmt, loadavg, median, root, smoke, table } from '../lib/net.js';

const CLIENTS = Number(process.env.CLIENTS ?? 32);
const ROUNDS = Number(process.env.ROUNDS ?? (smoke ? 100 : 2000));
const SIZE = Number(process.env.SIZE ?? 64);
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));

const dgramServer = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (msg, r) => s.send(msg, r.port, r.address));
s.bind(0, '127.0.0.1', () => console.log('listening ' + s.address().port));
process.on('SIGTERM', () => s.close());
`;

type Srv = { proc: ChildProcess; port: number };

function start(args: string[]): Promise<Srv> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { cwd: root, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ proc, port: Number(m[1]) });
    });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

async function stop(s: Srv): Promise<void> {
  const done = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  await done;
}

async function load(port: number): Promise<number> {
  const m = new UringMachine();
  const payload = Buffer.alloc(SIZE, 0x61);
  const socks: number[] = [];
  for (let i = 0; i < CLIENTS; i++) socks.push(await m.socket(C.AF_INET!, C.SOCK_DGRAM!));
  const t0 = process.hrtime.bigint();
  const fibers = socks.map((fd) =>
    m.spin(async () => {
      const buf = Buffer.alloc(SIZE + 16);
      for (let i = 0; i < ROUNDS; i++) {
        await m.sendto(fd, payload, '127.0.0.1', port);
        // A datagram lost on loopback under load would stall the loop: bound the wait.
        try {
          await m.timeout(1000, () => m.recvfrom(fd, buf));
        } catch {
          /* counted as not echoed */
        }
      }
    }),
  );
  await m.join(fibers);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const fd of socks) await m.close(fd);
  m.close();
  return (CLIENTS * ROUNDS) / s;
}

async function main(): Promise<void> {
  const lavg = loadavg();
  const servers: [string, string[]][] = [
    ['(a) node:dgram', ['-e', dgramServer]],
    ['(b) uringmachine recvmsgEach', [`${root}out/examples/udp-echo.js`]],
  ];
  const rows: string[][] = [];
  let base = NaN;
  for (const [name, args] of servers) {
    const s = await start(args);
    try {
      const rates: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const c0 = cpuTimes(s.proc.pid!);
        rates.push(await load(s.port));
        const c1 = cpuTimes(s.proc.pid!);
        cpu.push(((c1.user + c1.system - c0.user - c0.system) / (CLIENTS * ROUNDS)) * 1e6);
      }
      const r = median(rates);
      if (Number.isNaN(base)) base = r;
      rows.push([name, fmt(r), `${(r / base).toFixed(2)}×`, median(cpu).toFixed(2)]);
    } finally {
      await stop(s);
    }
  }
  console.log(`\n### udp — echo of ${SIZE} B datagrams, ${CLIENTS} client sockets × ${fmt(ROUNDS)} round trips (node ${process.version}; median of ${RUNS}; load average ${lavg} at start)\n`);
  console.log(table(['server', 'datagrams/s', 'vs node:dgram', 'server CPU µs/datagram'], rows));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
