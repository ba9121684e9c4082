/**
 * bench/msg-ring: wake-ups across two worker threads, as a ping-pong: worker
 * A sends round i to worker B and waits for B's answer before the next
 * round; B answers each. Every round trip is two cross-thread wake-ups of a
 * thread that is waiting. Contenders, alternated in one run (A/B/C, RUNS
 * times; medians), each with fresh workers (the clock starts when both
 * have reported ready and ends when both are done):
 *   (a) MSG_RING: m.sendTo(peer, i) / m.receive() (IORING_OP_MSG_RING into
 *       the peer's ring; its eventfd wakes the peer's loop);
 *   (b) SharedQueue: two SharedQueues of CAPACITY slots, m.push / m.shift of
 *       a 4-byte item (FUTEX_WAKE from the pusher's ring, FUTEX_WAIT
 *       completing in the taker's);
 *   (c) MessagePort.postMessage of the number over a MessageChannel (Node
 *       core; 'message' events).
 * CPU per round trip is the process's CPU time (user + system, all threads:
 * process.cpuUsage()) over the timed span, divided by ROUNDS.
 * Env: ROUNDS (50000), CAPACITY (16), RUNS (5).
 */
import { MessageChannel, type MessagePort, Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { SharedQueue, UringMachine, type RingAddress } from 'uringmachine';

import { median } from '../lib/net.js';

const ROUNDS = Number(process.env.ROUNDS ?? 50000);
const CAPACITY = Number(process.env.CAPACITY ?? 16);
const RUNS = Number(process.env.RUNS ?? 5);

type Kind = 'msg' | 'sq' | 'port';
interface Job {
  kind: Kind;
  ping: boolean;
  n: number;
  sab?: [SharedArrayBuffer, number, SharedArrayBuffer, number];
  port?: MessagePort;
}

// ---- worker side ----------------------------------------------------------------

async function work(job: Job, peer: Promise<RingAddress>, go: Promise<void>, ready: (a: RingAddress | null) => void): Promise<void> {
  const m = new UringMachine();
  ready(job.kind === 'msg' ? m.address() : null);
  try {
    if (job.kind === 'msg') {
      const to = await peer;
      await go;
      await m.join(
        m.spin(async () => {
          for (let i = 0; i < job.n; i++) {
            if (job.ping) {
              await m.sendTo(to, i);
              if ((await m.receive()).value !== i) throw new Error('bad round');
            } else {
              const v = (await m.receive()).value;
              await m.sendTo(to, v);
            }
          }
        }),
      );
    } else if (job.kind === 'sq') {
      const [ab, aoff, bb, boff] = job.sab!;
      const out = SharedQueue.from(job.ping ? ab : bb, job.ping ? aoff : boff);
      const inq = SharedQueue.from(job.ping ? bb : ab, job.ping ? boff : aoff);
      const item = Buffer.alloc(4);
      await go;
      await m.join(
        m.spin(async () => {
          for (let i = 0; i < job.n; i++) {
            if (job.ping) {
              item.writeInt32LE(i);
              await m.push(out, item);
              if (((await m.shift(inq)) as Buffer).readInt32LE(0) !== i) throw new Error('bad round');
            } else {
              await m.push(out, (await m.shift(inq)) as Buffer);
            }
          }
        }),
      );
    } else {
      const port = job.port!;
      await go;
      await new Promise<void>((resolve, reject) => {
        let i = 0;
        port.on('message', (v: number) => {
          if (job.ping) {
            if (v !== i) reject(new Error('bad round'));
            if (++i === job.n) resolve();
            else port.postMessage(i);
          } else {
            port.postMessage(v);
            if (++i === job.n) resolve();
          }
        });
        if (job.ping) port.postMessage(0);
      });
      port.close();
    }
    for (let i = 0; i < 1000 && m.metrics().opsPending > 0; i++) await m.sleep(1);
  } finally {
    m.close();
  }
}

if (!isMainThread) {
  const port = parentPort!;
  const job = workerData as Job;
  let start!: () => void;
  const go = new Promise<void>((r) => (start = r));
  let gotPeer!: (a: RingAddress) => void;
  const peer = new Promise<RingAddress>((r) => (gotPeer = r));
  const onMessage = (msg: { peer?: RingAddress; go?: boolean }): void => {
    if (msg.peer) gotPeer(msg.peer);
    if (msg.go) start();
  };
  port.on('message', onMessage);
  const done = work(job, peer, go, (a) => port.postMessage({ ready: a }));
  // The listener keeps the thread alive: drop it when done, so the worker exits.
  done.then(
    () => port.postMessage({ done: true }),
    (e) => port.postMessage({ error: (e as Error)?.stack ?? String(e) }),
  ).finally(() => port.off('message', onMessage));
}

// ---- main side ----------------------------------------------------------------

interface Sample {
  secs: number;
  cpuUs: number;
}

async function runPair(a: Job, b: Job, transfer: [MessagePort[], MessagePort[]] = [[], []]): Promise<Sample> {
  const url = new URL(import.meta.url);
  const ws = [new Worker(url, { workerData: a, transferList: transfer[0] }), new Worker(url, { workerData: b, transferList: transfer[1] })];
  const exited = ws.map((w) => new Promise((r) => w.once('exit', r)));
  const ready = ws.map((w) => new Promise<RingAddress | null>((r) => w.once('message', (msg: { ready?: RingAddress | null }) => r(msg.ready ?? null))));
  const addrs = await Promise.all(ready);
  ws[0]!.postMessage({ peer: addrs[1] });
  ws[1]!.postMessage({ peer: addrs[0] });
  const done = ws.map(
    (w) =>
      new Promise<void>((resolve, reject) => {
        w.on('message', (msg: { done?: boolean; error?: string }) => {
          if (msg.done) resolve();
          else if (msg.error) reject(new Error(msg.error));
        });
        w.once('error', reject);
      }),
  );
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const w of ws) w.postMessage({ go: true });
  await Promise.all(done);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  await Promise.all(exited);
  return { secs, cpuUs: c.user + c.system };
}

function run(kind: Kind): Promise<Sample> {
  if (kind === 'msg') return runPair({ kind, ping: true, n: ROUNDS }, { kind, ping: false, n: ROUNDS });
  if (kind === 'sq') {
    const opts = { capacity: CAPACITY, bytes: Math.max(CAPACITY * 16, 1024) };
    const qa = new SharedQueue(opts);
    const qb = new SharedQueue(opts);
    const sab: Job['sab'] = [qa.buffer, qa.byteOffset, qb.buffer, qb.byteOffset];
    return runPair({ kind, ping: true, n: ROUNDS, sab }, { kind, ping: false, n: ROUNDS, sab });
  }
  const { port1, port2 } = new MessageChannel();
  return runPair({ kind, ping: true, n: ROUNDS, port: port1 }, { kind, ping: false, n: ROUNDS, port: port2 }, [[port1], [port2]]);
}

async function main(): Promise<void> {
  const kinds: Kind[] = ['msg', 'sq', 'port'];
  for (const k of kinds) await run(k); // warm-up
  const samples = new Map<Kind, Sample[]>(kinds.map((k) => [k, []]));
  for (let r = 0; r < RUNS; r++) for (const k of kinds) samples.get(k)!.push(await run(k));
  const row = (k: Kind): { secs: number; rps: number; cpu: number } => {
    const s = samples.get(k)!;
    const secs = median(s.map((x) => x.secs));
    return { secs, rps: ROUNDS / secs, cpu: median(s.map((x) => x.cpuUs / ROUNDS)) };
  };
  const msg = row('msg');
  const sq = row('sq');
  const port = row('port');
  console.log(
    `### msg-ring: ping-pong between two worker-thread machines (node ${process.version}; ${ROUNDS} round trips, SharedQueue capacity ${CAPACITY}, median of ${RUNS} alternating runs)\n`,
  );
  console.log('| contender | seconds | round trips/s | CPU µs / round trip | rate vs SharedQueue | rate vs postMessage |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, x] of [
    ['MSG_RING m.sendTo / m.receive', msg],
    ['SharedQueue m.push / m.shift (futex)', sq],
    ['MessagePort.postMessage', port],
  ] as const) {
    console.log(
      `| ${name} | ${x.secs.toFixed(3)} | ${Math.round(x.rps).toLocaleString('en-US')} | ${x.cpu.toFixed(1)} | ${(x.rps / sq.rps).toFixed(2)}x | ${(x.rps / port.rps).toFixed(2)}x |`,
    );
  }
  console.log(`\nMSG_RING / SharedQueue: ${(msg.rps / sq.rps).toFixed(2)}x round trips/s, ${(msg.cpu / sq.cpu).toFixed(2)}x CPU per round trip`);
}

if (isMainThread) await main();
