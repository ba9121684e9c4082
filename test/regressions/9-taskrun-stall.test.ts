// Issue 9.2: with DEFER_TASKRUN, one GETEVENTS enter runs only a bounded
// amount of deferred task work and leaves the rest with IORING_SQ_TASKRUN
// set, signalling no eventfd: a turn loop that does not look at the flag
// waits forever. readFiles of 63 empty files in /dev/shm (hardlinked
// read/read/close chains: each successor is queued as task work) stalled in
// about 3 runs of 20.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';

import { constants as C, type UringMachine } from 'uringmachine';
import { assertNoPendingOps, createMachine } from '../helpers.js';

/** p, or a failure with the machine's metrics if it has not settled after `ms` (a hang detector). */
async function settles<T>(m: UringMachine, p: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} never settled: ${JSON.stringify(m.metrics())}`)), ms);
  });
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

function shmDir(t: { after(fn: () => void): void }, files: number, size: number): string[] {
  const dir = `/dev/shm/um-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  mkdirSync(dir);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const paths: string[] = [];
  for (let i = 0; i < files; i++) {
    const p = `${dir}/f${i}`;
    writeFileSync(p, Buffer.alloc(size, i & 0xff));
    paths.push(p);
  }
  return paths;
}

test('readFiles of 63 empty files on tmpfs completes, 40 times in a row', async (t) => {
  const paths = shmDir(t, 63, 0);
  for (let run = 0; run < 40; run++) {
    const m = createMachine();
    const got = await settles(m, m.readFiles(paths), `run ${run}`);
    assert.equal(got.size, 63);
    for (const b of got.values()) assert.equal(b.length, 0);
    assertNoPendingOps(m);
  }
});

test('bursts of open/read/close on tmpfs, hundreds in flight, always settle', async (t) => {
  const paths = shmDir(t, 200, 100);
  const m = createMachine();
  for (let run = 0; run < 20; run++) {
    const burst = Promise.all(
      paths.map(async (p) => {
        const fd = await m.open(p, C.O_RDONLY!);
        const b = Buffer.alloc(200);
        const n = await m.read(fd, b);
        assert.equal(await m.read(fd, b, 100, n), 0);
        await m.close(fd);
        return n;
      }),
    );
    const sizes = await settles(m, burst, `burst ${run}`);
    assert.ok(sizes.every((n) => n === 100));
    const got = await settles(m, m.readFiles(paths), `readFiles ${run}`);
    assert.equal(got.size, 200);
  }
  assertNoPendingOps(m);
});
