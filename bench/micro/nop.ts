/**
 * Micro: the cost of one op round trip, and of AsyncLocalStorage.
 *   - plain:  `await` of a resolved promise, outside any ALS context
 *   - als:    the same loop inside AsyncLocalStorage.run() with a store set
 *             (Node 20: promise hooks on every promise; Node 24:
 *             AsyncContextFrame)
 *   - op:     `await m.write(devnull, 1 byte)` in fibers: a full op round
 *             trip through the machine and the kernel
 *   - C:      bench/bin/nop_write (bench/c/nop_write.c): the same writes,
 *             FIBERS in flight, on our ring with no JavaScript, and NOPs:
 *             the kernel's share, so "op - C" is the machine's own cost
 * Each measure runs once untimed (the JIT warms up, the machine's op
 * records exist), then RUNS times; the median is printed. The first run of
 * a measure is its cold cost (the op round trip's was 526 ns on Node 24
 * against ~390 for the runs after it).
 * Env: FIBERS (64), N (5000), RUNS (5).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { UringMachine } from 'uringmachine';

const FIBERS = Number(process.env.FIBERS ?? 64);
const N = Number(process.env.N ?? 5000);
const RUNS = Number(process.env.RUNS ?? 5);

async function loop(): Promise<void> {
  for (let i = 0; i < N; i++) await Promise.resolve();
}

/** ns per await/op of fn: one untimed run, then the median of RUNS. */
async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const ns: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ns.push(Number(process.hrtime.bigint() - t0) / (FIBERS * N));
  }
  ns.sort((a, b) => a - b);
  return ns[ns.length >> 1]!;
}

const plain = await timeIt(() => Promise.all(Array.from({ length: FIBERS }, loop)));
const als = new AsyncLocalStorage<object>();
const inAls = await timeIt(() => als.run({}, () => Promise.all(Array.from({ length: FIBERS }, loop))));

const m = new UringMachine();
const fd = openSync('/dev/null', 'w');
const one = Buffer.from('x');
const op = await timeIt(async () => {
  const fibers = Array.from({ length: FIBERS }, () =>
    m.spin(async () => {
      for (let i = 0; i < N; i++) await m.write(fd, one);
    }),
  );
  await m.join(fibers);
});
m.close();

const cbin = fileURLToPath(new URL('../../../bench/bin/nop_write', import.meta.url));
let c: { write_ns: number; nop_ns: number } | null = null;
if (existsSync(cbin)) {
  const out = execFileSync(cbin, { env: { ...process.env, FIBERS: String(FIBERS), N: String(N) }, encoding: 'utf8' });
  c = JSON.parse(out.trim().split('\n').pop()!) as { write_ns: number; nop_ns: number };
} else console.error(`C rows skipped: ${cbin} not built (bash bench/c/build.sh)`);

console.log(`\n### micro/nop — ${FIBERS} fibers x ${N}, median of ${RUNS} after a warm-up, node ${process.version}\n`);
console.log('| measure | ns per await/op |');
console.log('|---|---:|');
console.log(`| await resolved promise, no ALS | ${plain.toFixed(0)} |`);
console.log(`| await resolved promise, inside ALS.run | ${inAls.toFixed(0)} |`);
console.log(`| ALS tax per await | ${(inAls - plain).toFixed(0)} |`);
console.log(`| op round trip: await m.write(/dev/null, 1 B) in fibers | ${op.toFixed(0)} |`);
if (c !== null) {
  console.log(`| C on our ring: the same writes, ${FIBERS} in flight (the kernel's share) | ${c.write_ns.toFixed(0)} |`);
  console.log(`| C on our ring: NOP, ${FIBERS} in flight (the ring's floor) | ${c.nop_ns.toFixed(0)} |`);
  console.log(`| the machine's own cost per op (op round trip - C write) | ${(op - c.write_ns).toFixed(0)} |`);
}
