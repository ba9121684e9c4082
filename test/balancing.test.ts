// Balancing I/O with the runqueue (the maxSwitches policies): no runnable
// fibers can hold back a completion for more than a bounded number of turns
// and switches, and no flood of completions can hold back runnable fibers.
// Everything is counted (metrics().totalTurns / totalSwitches), never timed.
import assert from 'node:assert/strict';
import { openSync, closeSync, writeSync } from 'node:fs';
import { test } from 'node:test';

import { constants, UM, type MaxSwitchesOption } from 'uringmachine';

import { assertNoPendingOps, createMachine } from './helpers.js';

/** Each policy form, with the fewest and the most switches it may run in one turn. */
const POLICIES: [string, MaxSwitchesOption, number, number][] = [
  ['fixed 64', 64, 64, 64],
  ['fixed 1', 1, 1, 1],
  ['runqueueShare 0.05 (max 64)', { runqueueShare: 0.05, max: 64 }, 16, 64],
  ['runqueueShare 1 (max 32)', { runqueueShare: 1, max: 32 }, 16, 32],
  ["'adaptive'", 'adaptive', 8, 4096],
  ['targetLatencyMs 0.05 (max 64)', { targetLatencyMs: 0.05, max: 64 }, 8, 64],
  ['targetLatencyMs 50 (max 48)', { targetLatencyMs: 50, max: 48 }, 8, 48],
];

/** A CPU burst of a fixed amount of work (no clock). */
function burn(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x += Math.sqrt(i) * 1e-9;
  return x;
}

for (const [name, maxSwitches, minLimit, maxLimit] of POLICIES) {
  for (const via of ['recv', 'recvEach'] as const) {
    test(`balancing (${name}): snoozing and CPU-bound fibers cannot hold back a socket's completions (${via})`, async () => {
      const m = createMachine({ maxSwitches });
      const [a, b] = UM.socketpair(constants.AF_UNIX!, constants.SOCK_STREAM!, 0);
      const SNOOZERS = 200;
      const BURNERS = 100;
      const MESSAGES = 30;
      let stop = false;
      let sink = 0;
      // The moment (in turns and switches) the last message was written, and
      // whether the reader has taken it yet (one message in flight at a time).
      let sentTurns = -1;
      let sentSwitches = -1;
      let sent = 0;
      let received = 0;
      const turnsTaken: number[] = [];
      const switchesTaken: number[] = [];
      const got = (data: Buffer): void => {
        const x = m.metrics();
        assert.equal(data.toString(), `msg${received}`);
        turnsTaken.push(x.totalTurns - sentTurns);
        switchesTaken.push(x.totalSwitches - sentSwitches);
        received++;
      };
      // A one-shot recv resolves its promise from the reap; a multishot recv's
      // chunks wake the iterator's fiber through a resumption made while the
      // batch is settled, which must not queue behind the runnable fibers.
      const reader = m.spin(async () => {
        if (via === 'recv') {
          const buf = Buffer.alloc(16);
          while (received < MESSAGES) got(buf.subarray(0, await m.recv(b, buf)));
        } else {
          for await (const chunk of m.recvEach(b)) {
            got(chunk);
            if (received === MESSAGES) break;
          }
        }
      });
      const workers = [];
      for (let i = 0; i < SNOOZERS; i++) {
        workers.push(
          m.spin(async () => {
            let k = 0;
            while (!stop && k < 200_000) {
              k++;
              // Fiber 0 writes the next message from inside the busy loop,
              // with a plain write(2): the data is there at once, and the
              // reader's recv completes as soon as the machine enters the kernel.
              if (i === 0 && sent === received && sent < MESSAGES && k % 7 === 0) {
                const x = m.metrics();
                sentTurns = x.totalTurns;
                sentSwitches = x.totalSwitches;
                writeSync(a, `msg${sent}`);
                sent++;
              }
              await m.snooze();
            }
          }),
        );
      }
      for (let i = 0; i < BURNERS; i++) {
        workers.push(
          m.spin(async () => {
            let k = 0;
            while (!stop && k < 200_000) {
              k++;
              sink += burn(500 + ((i * 7919 + k * 104729) % 3000));
              await m.snooze();
            }
          }),
        );
      }
      await m.join(reader);
      stop = true;
      await m.join(workers);
      assert.ok(sink >= 0);
      assert.equal(turnsTaken.length, MESSAGES);
      // The write happens between two turns; the next turn enters the kernel
      // (a recv is pending), reaps the completion and resumes the reader.
      // Allow one turn more, never the runqueue's length in turns.
      for (const t of turnsTaken) assert.ok(t >= 1 && t <= 2, `${name}: delivered after ${t} turns (${turnsTaken.join(',')})`);
      // At most two turns' budgets of other fibers ran in between (plus the
      // reader's own wake-up with recvEach): with 300 runnable fibers an
      // unbounded drain would run them all every turn.
      for (const s of switchesTaken) assert.ok(s <= 2 * maxLimit + 1, `${name}: ${s} switches before delivery (limit ${maxLimit})`);
      closeSync(a);
      await m.close(b);
      assertNoPendingOps(m);
    });
  }

  test(`balancing (${name}): a flood of completions cannot starve runnable fibers`, async () => {
    const m = createMachine({ maxSwitches });
    const devnull = openSync('/dev/null', 'w');
    const IO_FIBERS = 256;
    const OPS = 40;
    const SNOOZERS = 4;
    let ioDone = 0;
    let tStart = -1;
    let tEnd = -1;
    const io = [];
    for (let i = 0; i < IO_FIBERS; i++) {
      io.push(
        m.spin(async () => {
          const one = Buffer.from('x');
          for (let k = 0; k < OPS; k++) await m.write(devnull, one);
          if (++ioDone === IO_FIBERS) tEnd = m.metrics().totalTurns;
        }),
      );
    }
    // Each snoozer notes the turn of each of its resumptions while the I/O
    // fibers keep up to 256 completions coming every turn.
    const gaps: number[] = [];
    let resumptions = 0;
    const snoozers = [];
    for (let i = 0; i < SNOOZERS; i++) {
      snoozers.push(
        m.spin(async () => {
          let last = m.metrics().totalTurns;
          if (tStart < 0) tStart = last;
          let k = 0;
          while (ioDone < IO_FIBERS && k < 1_000_000) {
            k++;
            await m.snooze();
            const t = m.metrics().totalTurns;
            gaps.push(t - last);
            last = t;
            resumptions++;
          }
        }),
      );
    }
    await m.join(io);
    await m.join(snoozers);
    // The turns during which the snoozers were runnable and I/O kept coming.
    const turns = tEnd - tStart;
    const ops = m.metrics().totalOps;
    assert.ok(ops >= IO_FIBERS * OPS);
    assert.ok(turns > 4, `${name}: the flood took ${turns} turns`);
    // Every snoozer resumed within the turns it takes the policy's smallest
    // budget to get round the snoozers (plus one): the runqueue got its share
    // of every turn, however many completions the turn settled.
    const bound = Math.ceil(SNOOZERS / minLimit) + 1;
    assert.ok(gaps.length > 0);
    for (const g of gaps) assert.ok(g >= 1 && g <= bound, `${name}: a snoozer waited ${g} turns (bound ${bound})`);
    assert.ok(resumptions >= Math.min(SNOOZERS, minLimit) * (turns / bound - 2), `${name}: ${resumptions} resumptions in ${turns} turns`);
    closeSync(devnull);
    assertNoPendingOps(m);
  });
}

test('balancing: the policy state is visible in metrics().switchLimit, and the latency policy moves it', async () => {
  // A fixed limit stays put; a latency target far below what one switch
  // costs drives the limit down to min; a target far above it, up to max.
  const run = async (maxSwitches: MaxSwitchesOption): Promise<number[]> => {
    const m = createMachine({ maxSwitches });
    const seen: number[] = [];
    const fibers = [];
    let sink = 0;
    for (let i = 0; i < 200; i++) {
      fibers.push(
        m.spin(async () => {
          for (let k = 0; k < 200; k++) {
            sink += burn(i % 2 === 0 ? 2000 : 10);
            await m.snooze();
            if (i === 0) seen.push(m.metrics().switchLimit);
          }
        }),
      );
    }
    await m.join(fibers);
    assert.ok(sink >= 0);
    assertNoPendingOps(m);
    return seen;
  };
  const fixed = await run(64);
  assert.ok(fixed.every((l) => l === 64));
  const low = await run({ targetLatencyMs: 0.000001, min: 3, max: 100 });
  assert.equal(low.at(-1), 3, `limit went down to min: ${low.slice(-5).join(',')}`);
  // (max below the 200 runnable fibers: a limit the runqueue cannot fill
  // tells nothing about the cost of a switch and is left alone.)
  const high = await run({ targetLatencyMs: 60_000, min: 3, max: 100 });
  assert.equal(high.at(-1), 100, `limit went up to max: ${high.slice(-5).join(',')}`);
  // The share policy follows the runqueue's length (200 fibers, share 0.1: 20).
  const share = await run({ runqueueShare: 0.1, min: 2, max: 1000 });
  assert.ok(share.some((l) => l >= 15 && l <= 21), `share limits: ${share.slice(0, 8).join(',')}`);
});

test('balancing: maxSwitches forms are validated (TypeError / RangeError with Node-style codes)', () => {
  const bad: [unknown, string][] = [
    ['fast', 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
    [[1], 'ERR_INVALID_ARG_TYPE'],
    [0, 'ERR_OUT_OF_RANGE'],
    [{ runqueueShare: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ runqueueShare: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ runqueueShare: '0.5' }, 'ERR_INVALID_ARG_TYPE'],
    [{ runqueueShare: 0.5, targetLatencyMs: 1 }, 'ERR_INVALID_ARG_TYPE'],
    [{ targetLatencyMs: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ targetLatencyMs: NaN }, 'ERR_OUT_OF_RANGE'],
    [{ targetLatencyMs: 'x' }, 'ERR_INVALID_ARG_TYPE'],
    [{ min: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ min: 10, max: 5 }, 'ERR_OUT_OF_RANGE'],
    [{ max: 2.5 }, 'ERR_OUT_OF_RANGE'],
  ];
  for (const [v, code] of bad) {
    assert.throws(() => createMachine({ maxSwitches: v as never }), (e: unknown) => (e as { code?: string }).code === code, JSON.stringify(v));
  }
  for (const ok of [1, 'adaptive', {}, { runqueueShare: 0.5 }, { targetLatencyMs: 2, min: 1, max: 1 }] as MaxSwitchesOption[]) {
    const m = createMachine({ maxSwitches: ok });
    assert.ok(m.metrics().switchLimit >= 1);
    m.close();
  }
});
