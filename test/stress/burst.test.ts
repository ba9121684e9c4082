// Bursts (docs/STRESS.md, part 2): many ops of every kind at once on tmpfs
// (/dev/shm), the disk filesystem (os.tmpdir()), pipes and sockets; every
// burst must settle within a bound, checked by a watchdog that fails with the
// machine's metrics (a hang detector: the bound is seconds for work done in
// milliseconds, not a performance threshold). Results are checked too.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { constants as C, Queue, UM, type UringMachine } from 'uringmachine';
import { createMachine, tcpPair } from '../helpers.js';
import { assertFdsAsBefore, checkPattern, fdSnapshot, fillPattern, printTally, rngFor, scaled, tally, watchdog, type Rng } from './common.js';

const T0 = Date.now();
after(() => printTally('burst', T0));

/** The bound of one burst: a hang detector (each burst takes milliseconds). */
const BOUND = 10_000;

interface Place {
  name: string;
  dir: string;
}

const places: Place[] = [];
const disk = mkdtempSync(join(tmpdir(), 'um-stress-'));
places.push({ name: 'disk', dir: disk });
after(() => rmSync(disk, { recursive: true, force: true }));
if (existsSync('/dev/shm')) {
  const shm = mkdtempSync('/dev/shm/um-stress-');
  places.push({ name: 'tmpfs', dir: shm });
  after(() => rmSync(shm, { recursive: true, force: true }));
}

/** One file's life through the ring: create, write, fsync, statx, read back, rename, unlink. */
async function fileLife(m: UringMachine, rng: Rng, dir: string, i: number): Promise<void> {
  const p = join(dir, `b${i}`);
  const data = fillPattern(Buffer.allocUnsafe(rng.pick([0, 1, 100, 4096, 70_000])), i);
  const fd = await m.open(p, C.O_CREAT! | C.O_RDWR! | C.O_TRUNC!, 0o644);
  try {
    if (rng.chance(0.5)) assert.equal(await m.write(fd, data, data.length, 0), data.length);
    else assert.equal(await m.writev(fd, [data.subarray(0, data.length >> 1), data.subarray(data.length >> 1)], 0), data.length);
    if (rng.chance(0.3)) await m.fsync(fd, { datasync: rng.chance(0.5) });
    const st = await m.statx(C.AT_FDCWD!, p, 0, C.STATX_SIZE!);
    assert.equal(st.size, data.length);
    const back = Buffer.alloc(data.length + 16);
    let have = 0;
    for (;;) {
      const n = await m.read(fd, back, back.length - have, have, have);
      if (n === 0) break;
      have += n;
    }
    assert.equal(have, data.length);
    checkPattern(back.subarray(0, have), i, p);
    tally.bytes += have;
  } finally {
    await m.close(fd);
  }
  if (rng.chance(0.5)) {
    await m.rename(p, `${p}.r`);
    await m.unlink(`${p}.r`);
  } else await m.unlink(p);
  tally.ops += 7;
}

for (const place of places) {
  test(`${place.name}: bursts of open/write/fsync/statx/read/rename/unlink/close settle`, async () => {
    const rng = rngFor(`burst files ${place.name}`);
    const fdt0 = fdSnapshot();
    const m = createMachine();
    const rounds = scaled(8);
    for (let r = 0; r < rounds; r++) {
      const n = rng.range(16, 200);
      await watchdog(m, BOUND, `${place.name} burst ${r} (${n} files)`, async () => {
        const fibers = [];
        for (let i = 0; i < n; i++) fibers.push(m.spin(() => fileLife(m, rng, place.dir, r * 1000 + i)));
        await m.join(fibers);
      });
    }
    assert.equal(m.metrics().opsPending, 0);
    m.close();
    assertFdsAsBefore(fdt0, 'fds leaked');
  });

  test(`${place.name}: writeAsync bursts to files, then close: every byte on disk, in order`, async () => {
    const rng = rngFor(`burst writeAsync ${place.name}`);
    const m = createMachine();
    const rounds = scaled(6);
    for (let r = 0; r < rounds; r++) {
      const files = rng.range(4, 32);
      await watchdog(m, BOUND, `${place.name} writeAsync burst ${r}`, async () => {
        const fibers = [];
        for (let f = 0; f < files; f++) {
          fibers.push(
            m.spin(async () => {
              const p = join(place.dir, `wa${r}-${f}`);
              const fd = await m.open(p, C.O_CREAT! | C.O_WRONLY! | C.O_TRUNC!, 0o644);
              let pos = 0;
              for (let k = rng.range(1, 300); k > 0; k--) {
                const len = rng.pick([1, 7, 512, 4096, 20_000]);
                m.writeAsync(fd, fillPattern(Buffer.allocUnsafe(len), pos));
                pos += len;
              }
              await m.close(fd);
              const back = (await m.readFiles([p])).get(p)!;
              assert.equal(back.length, pos, `${p}: ${back.length} of ${pos} bytes`);
              checkPattern(back, 0, p);
              tally.bytes += pos;
              await m.unlink(p);
            }),
          );
        }
        await m.join(fibers);
      });
    }
    m.close();
  });

  test(`${place.name}: readFiles of many empty and small files, repeated, settles every time`, async () => {
    const rng = rngFor(`burst readFiles ${place.name}`);
    const d = join(place.dir, 'rf');
    mkdirSync(d, { recursive: true });
    const sets: string[][] = [];
    for (const [count, size] of [
      [63, 0],
      [200, 0],
      [100, 1],
      [64, 5000],
    ] as const) {
      const set: string[] = [];
      for (let i = 0; i < count; i++) {
        const p = join(d, `s${size}-${i}`);
        writeFileSync(p, Buffer.alloc(size, i & 0xff));
        set.push(p);
      }
      sets.push(set);
    }
    const m = createMachine();
    const rounds = scaled(40);
    for (let r = 0; r < rounds; r++) {
      const set = rng.pick(sets);
      const concurrency = rng.pick([undefined, 1, 8, 64]);
      const got = await watchdog(m, BOUND, `${place.name} readFiles round ${r} (${set.length} files, concurrency ${concurrency})`, () =>
        m.readFiles(set, concurrency === undefined ? {} : { concurrency }),
      );
      assert.equal(got.size, set.length);
      for (const p of set) assert.ok(got.has(p), p);
      tally.ops += set.length;
    }
    m.close();
  });
}

test('pipes: bursts of concurrent write/read/readEach/poll settle, bytes intact', async () => {
  const rng = rngFor('burst pipes');
  const fdt0 = fdSnapshot();
  const m = createMachine();
  const rounds = scaled(10);
  for (let r = 0; r < rounds; r++) {
    const n = rng.range(8, 64);
    await watchdog(m, BOUND, `pipe burst ${r} (${n} pipes)`, async () => {
      const fibers = [];
      for (let i = 0; i < n; i++) {
        const [rd, wr] = UM.pipe();
        const total = rng.pick([1, 1000, 100_000, 300_000]);
        const style = rng.int(3);
        fibers.push(
          m.spin(async () => {
            let pos = 0;
            while (pos < total) {
              const len = Math.min(total - pos, rng.range(1, 70_000));
              pos += await m.write(wr, fillPattern(Buffer.allocUnsafe(len), pos));
            }
            await m.close(wr);
          }),
          m.spin(async () => {
            let pos = 0;
            if (style === 0) {
              for await (const chunk of m.readEach(rd)) {
                checkPattern(chunk, pos, 'readEach');
                pos += chunk.length;
              }
            } else {
              if (style === 2) await m.poll(rd, C.POLLIN!);
              const b = Buffer.alloc(65536);
              for (;;) {
                const k = await m.read(rd, b);
                if (k === 0) break;
                checkPattern(b.subarray(0, k), pos, 'read');
                pos += k;
              }
            }
            assert.equal(pos, total);
            tally.bytes += pos;
            await m.close(rd);
          }),
        );
        tally.ops += 2;
      }
      await m.join(fibers);
    });
  }
  assert.equal(m.metrics().opsPending, 0);
  m.close();
  assertFdsAsBefore(fdt0, 'fds leaked');
});

test('sockets: bursts of TCP and unix send/recv/sendv/recvEach/select/queues settle, bytes intact', async () => {
  const rng = rngFor('burst sockets');
  const fdt0 = fdSnapshot();
  const m = createMachine();
  const rounds = scaled(8);
  for (let r = 0; r < rounds; r++) {
    const n = rng.range(4, 32);
    await watchdog(m, BOUND, `socket burst ${r} (${n} pairs)`, async () => {
      const fibers = [];
      const q = new Queue<number>();
      for (let i = 0; i < n; i++) {
        let a: number;
        let b: number;
        let listener = -1;
        if (rng.chance(0.5)) [a, b] = UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0);
        else [a, b, listener] = await tcpPair(m);
        const total = rng.pick([1, 5000, 200_000]);
        fibers.push(
          m.spin(async () => {
            let pos = 0;
            while (pos < total) {
              const len = Math.min(total - pos, rng.range(1, 30_000));
              const chunk = fillPattern(Buffer.allocUnsafe(len), pos);
              if (rng.chance(0.5)) pos += await m.send(b, chunk);
              else pos += await m.sendv(b, [chunk.subarray(0, len >> 1), chunk.subarray(len >> 1)]);
            }
            m.push(q, i);
            await m.close(b);
            if (listener >= 0) await m.close(listener);
          }),
          m.spin(async () => {
            let pos = 0;
            if (rng.chance(0.5)) {
              for await (const chunk of m.recvEach(a)) {
                checkPattern(chunk, pos, 'recvEach');
                pos += chunk.length;
              }
            } else {
              const buf = Buffer.alloc(16384);
              for (;;) {
                const [ready] = await m.select([a], [], []);
                assert.deepEqual(ready, [a]);
                const k = await m.recv(a, buf);
                if (k === 0) break;
                checkPattern(buf.subarray(0, k), pos, 'recv');
                pos += k;
              }
            }
            assert.equal(pos, total);
            tally.bytes += pos;
            await m.close(a);
          }),
        );
        tally.ops += 2;
      }
      const done = new Set<number>();
      for (let i = 0; i < n; i++) done.add(await m.shift(q));
      assert.equal(done.size, n);
      await m.join(fibers);
    });
  }
  assert.equal(m.metrics().opsPending, 0);
  m.close();
  assertFdsAsBefore(fdt0, 'fds leaked');
});
