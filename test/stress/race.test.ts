// Randomized cancellation races (docs/STRESS.md, part 1). Every op family
// runs under cancels fired at random points: m.timeout with tiny or random
// ms, an AbortSignal aborted before, in a microtask, on setImmediate or a
// timer, m.schedule(fiber, error) and m.terminate(fiber) from a chaos fiber,
// m.close(fd) under a pending op. Integrity accounting: a byte stream whose
// byte k is a hash of k goes through each channel, so a lost, duplicated or
// reordered run of bytes is caught at its first byte; every item of a queue
// arrives exactly once; every fd opened is closed (the process's fd count
// comes back). Completion wins (docs/ARCHITECTURE.md): an op the kernel
// completed resolves, and the cancel is raised at the fiber's next op.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import {
  constants as C,
  Fiber,
  Queue,
  Terminate,
  TimeoutError,
  UM,
  UMError,
  type Stream,
  type UringMachine,
} from 'uringmachine';
import { createMachine, localPort, tcpPair, tmpDir } from '../helpers.js';
import { assertFdsAsBefore, checkPattern, fdCount, fdSnapshot, fillPattern, printTally, rngFor, scaled, seedNote, tally, watchdog, watchProgress, type Rng } from './common.js';

const T0 = Date.now();
after(() => printTally('race', T0));

/** The error of m.schedule(fiber, error) from the chaos fiber. */
class Scheduled extends Error {}
/** The reason of the aborted signals. */
class Aborted extends Error {}

function isCancel(e: unknown): boolean {
  return e instanceof TimeoutError || e instanceof Scheduled || e instanceof Aborted;
}

/**
 * UM_STRESS_CANCELS: the cancels to fire (a comma list of timeout, abort,
 * schedule, terminate; default all), to narrow a failure down.
 */
const CANCELS = new Set((process.env.UM_STRESS_CANCELS ?? 'timeout,abort,schedule,terminate').split(','));

/** Timeouts from "before the op is submitted" to "after it usually completes". */
const TINY = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];

/**
 * fn under a random cancel: a tiny timeout, an abort at a random point, or
 * nothing (then only the chaos fiber can cancel it).
 */
function underCancel<T>(m: UringMachine, rng: Rng, fn: () => Promise<T>): Promise<T> {
  const k = rng.int(16);
  if (k < 7 && CANCELS.has('timeout')) return m.timeout(rng.pick(TINY), fn);
  if (k >= 7 && k < 12 && CANCELS.has('abort')) {
    const ac = new AbortController();
    const reason = new Aborted('stress abort');
    const how = rng.int(8);
    if (how === 0) ac.abort(reason);
    else if (how < 3) queueMicrotask(() => ac.abort(reason));
    else if (how < 6) setImmediate(() => ac.abort(reason));
    else setTimeout(() => ac.abort(reason), rng.int(2));
    return m.cancellable(ac.signal, fn);
  }
  return fn();
}

/** One end-to-end byte channel: a write side and a read side. */
interface Channel {
  name: string;
  r: number;
  w: number;
  /** Write some of chunk; resolves the count written. */
  write(m: UringMachine, rng: Rng, chunk: Buffer): Promise<number>;
  /** Read into buf; 0 at EOF. */
  read(m: UringMachine, buf: Buffer): Promise<number>;
  /** The multishot iterator of the read side. */
  each(m: UringMachine): AsyncIterable<Buffer>;
  mode: 'read' | 'recv';
  cleanup(m: UringMachine): Promise<void>;
}

/** chunk cut into 1..4 pieces (for writev/sendv/sendBundle). */
function pieces(rng: Rng, chunk: Buffer): Buffer[] {
  const n = Math.min(chunk.length, rng.range(1, 4));
  const out: Buffer[] = [];
  let off = 0;
  for (let i = 0; i < n - 1; i++) {
    const len = rng.range(1, chunk.length - off - (n - 1 - i));
    out.push(chunk.subarray(off, off + len));
    off += len;
  }
  out.push(chunk.subarray(off));
  return out;
}

type Kind = 'pipe' | 'tcp' | 'unix';
type WriteOp = 'write' | 'writev' | 'send' | 'sendv' | 'sendBundle';

async function channel(m: UringMachine, kind: Kind, writes: WriteOp[]): Promise<Channel> {
  let r: number;
  let w: number;
  let extra = -1;
  if (kind === 'pipe') [r, w] = UM.pipe();
  else if (kind === 'unix') [r, w] = UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0);
  else [r, w, extra] = await tcpPair(m);
  const sock = kind !== 'pipe';
  return {
    name: `${kind} ${writes.join('/')}`,
    r,
    w,
    mode: sock ? 'recv' : 'read',
    write(mm, rng, chunk) {
      switch (rng.pick(writes)) {
        case 'write':
          return mm.write(w, chunk);
        case 'writev':
          return mm.writev(w, pieces(rng, chunk));
        case 'send':
          return mm.send(w, chunk);
        case 'sendv':
          return mm.sendv(w, pieces(rng, chunk));
        case 'sendBundle':
          return mm.sendBundle(w, pieces(rng, chunk));
      }
    },
    read: (mm, buf) => (sock ? mm.recv(r, buf) : mm.read(r, buf)),
    each: (mm) => (sock ? mm.recvEach(r) : mm.readEach(r)),
    async cleanup(mm) {
      if (extra >= 0) await mm.close(extra);
    },
  };
}

/** A worker fiber slot: the chaos fiber terminates or schedules into it. */
interface Slot {
  fiber: Fiber | undefined;
}

/**
 * Run `work` in fresh fibers until done() (a terminated worker is replaced,
 * its progress is in shared state), then fin(). Returns the supervisor.
 */
function supervise(m: UringMachine, slot: Slot, done: () => boolean, work: () => Promise<void>, fin: () => Promise<void>): Fiber {
  return m.spin(async () => {
    while (!done()) {
      slot.fiber = m.spin(async () => {
        try {
          await work();
        } catch (e) {
          if (e instanceof Terminate) {
            tally.cancelled++;
            return;
          }
          throw e;
        }
      });
      await m.join(slot.fiber);
    }
    slot.fiber = undefined;
    await fin();
  });
}

/** Every so often terminate or schedule an error into a live worker. */
function chaos(m: UringMachine, rng: Rng, slots: Slot[], stop: () => boolean, rate = 1): Fiber {
  return m.spin(async () => {
    while (!stop()) {
      await m.sleep(rng.pick([0.005, 0.02, 0.1, 0.5, 1]) / rate);
      const f = rng.pick(slots).fiber;
      if (f === undefined || f.done) continue;
      if (rng.chance(0.25)) {
        if (CANCELS.has('terminate')) m.terminate(f);
      } else if (CANCELS.has('schedule')) m.schedule(f, new Scheduled('stress schedule'));
    }
  });
}

/** Catch a cancel (count it), rethrow anything else (Terminate ends the worker). */
function cancelled(e: unknown): void {
  if (!isCancel(e)) throw e;
  tally.cancelled++;
}

interface Flow {
  total: number;
  wpos: number;
  rpos: number;
  eof: boolean;
}

/** The writer: pattern bytes from wpos, chunks of random sizes, every write under a cancel. */
function writer(m: UringMachine, rng: Rng, ch: Channel, st: Flow, maxChunk: number): () => Promise<void> {
  return async () => {
    while (st.wpos < st.total) {
      const len = Math.min(st.total - st.wpos, rng.range(1, maxChunk));
      const chunk = fillPattern(Buffer.allocUnsafe(len), st.wpos);
      try {
        const n = await underCancel(m, rng, () => ch.write(m, rng, chunk));
        assert.ok(n >= 0 && n <= len, `${ch.name}: wrote ${n} of ${len}`);
        st.wpos += n;
        tally.ops++;
      } catch (e) {
        cancelled(e);
      }
    }
  };
}

function consume(ch: Channel, st: Flow, data: Uint8Array): void {
  checkPattern(data, st.rpos, ch.name);
  st.rpos += data.length;
  tally.bytes += data.length;
  assert.ok(st.rpos <= st.total, `${ch.name}: ${st.rpos - st.total} bytes more than written (${seedNote()})`);
}

type ReadStyle = 'oneshot' | 'multishot' | 'stream';

/** The reader: one-shot reads, multishot loops broken and resumed, or a stream. */
function reader(m: UringMachine, rng: Rng, ch: Channel, st: Flow, style: ReadStyle, maxChunk: number): () => Promise<void> {
  if (style === 'oneshot') {
    return async () => {
      while (!st.eof) {
        const buf = Buffer.alloc(rng.range(1, maxChunk));
        let n: number;
        try {
          n = await underCancel(m, rng, () => ch.read(m, buf));
          tally.ops++;
        } catch (e) {
          cancelled(e);
          continue;
        }
        if (n === 0) st.eof = true;
        else consume(ch, st, buf.subarray(0, n));
      }
    };
  }
  if (style === 'multishot') {
    return async () => {
      while (!st.eof) {
        let broke = false;
        try {
          await underCancel(m, rng, async () => {
            for await (const chunk of ch.each(m)) {
              consume(ch, st, chunk);
              tally.ops++;
              if (rng.chance(0.05)) {
                broke = true;
                break;
              }
            }
            if (!broke) st.eof = true;
          });
        } catch (e) {
          cancelled(e);
        }
      }
    };
  }
  // A stream: getString/getLine/skip-free reads; kept across cancels or
  // released (its unconsumed bytes go to the next stream on the fd).
  return async () => {
    while (!st.eof) {
      const s: Stream = m.stream(ch.r, { mode: ch.mode });
      try {
        for (let k = rng.range(1, 20); k > 0 && !st.eof; k--) {
          try {
            const pick = rng.int(10);
            if (pick < 6) {
              const b = await underCancel(m, rng, () => s.getString(-rng.range(1, maxChunk)));
              tally.ops++;
              if (b === null || b.length === 0) st.eof = true;
              else consume(ch, st, b);
            } else if (pick < 9) {
              const len = rng.range(1, maxChunk);
              const b = await underCancel(m, rng, () => s.getString(len));
              tally.ops++;
              if (b === null) {
                // EOF came first: the rest (< len bytes) is still buffered.
                const rest = await s.readToEof();
                if (rest.length > 0) consume(ch, st, rest);
                st.eof = true;
              } else consume(ch, st, b);
            } else {
              // Rarely (it waits for the writer's close): everything to EOF.
              const b = await underCancel(m, rng, () => s.readToEof());
              tally.ops++;
              if (b.length > 0) consume(ch, st, b);
              st.eof = true;
            }
          } catch (e) {
            cancelled(e);
          }
        }
      } finally {
        await s.release();
      }
    }
  };
}

const FAMILIES: { kind: Kind; writes: WriteOp[]; styles: ReadStyle[] }[] = [
  { kind: 'pipe', writes: ['write'], styles: ['oneshot', 'multishot', 'stream'] },
  { kind: 'pipe', writes: ['writev'], styles: ['oneshot'] },
  { kind: 'tcp', writes: ['send', 'sendv'], styles: ['oneshot', 'multishot', 'stream'] },
  { kind: 'unix', writes: ['send', 'sendv', 'write'], styles: ['oneshot', 'multishot', 'stream'] },
];
if (UM.kernelVersion() >= 610) FAMILIES.push({ kind: 'tcp', writes: ['sendBundle'], styles: ['oneshot'] });

for (const fam of FAMILIES) {
  for (const style of fam.styles) {
    const name = `${fam.kind} ${fam.writes.join('/')} -> ${style} read under random cancels: every byte once, in order`;
    test(name, async (t) => {
      const rng = rngFor(name);
      const fdt0 = fdSnapshot();
      const m = createMachine();
      t.after(() => m.close()); // on failure: stop its fibers before the next test counts fds
      const ch = await channel(m, fam.kind, fam.writes);
      const maxChunk = rng.pick([16, 512, 8192, 65536]);
      // Sized by ops, not bytes: about 20k writes of chunks up to maxChunk
      // (1 .. 2 MiB at scale 1), so that small chunks do not take minutes.
      const bytes = Math.min(style === 'oneshot' ? 1 << 20 : 2 << 20, maxChunk * 10_000);
      const st: Flow = { total: scaled(bytes), wpos: 0, rpos: 0, eof: false };
      const raced0 = m.metrics().cancelsRaced;
      const c0 = tally.cancelled;
      const ws: Slot = { fiber: undefined };
      const rs: Slot = { fiber: undefined };
      let stop = false;
      await watchProgress(m, 20_000, name, () => st.wpos + st.rpos, async () => {
        const wsup = supervise(m, ws, () => st.wpos >= st.total, writer(m, rng, ch, st, maxChunk), () => m.close(ch.w));
        const rsup = supervise(m, rs, () => st.eof, reader(m, rng, ch, st, style, maxChunk), () => m.close(ch.r));
        const ch0 = chaos(m, rng, [ws, rs], () => stop);
        try {
          await m.join(wsup, rsup);
        } finally {
          stop = true;
        }
        await m.join(ch0);
        await ch.cleanup(m);
      });
      assert.equal(st.rpos, st.total, `${ch.name}: ${st.total - st.rpos} bytes lost (${seedNote()})`);
      const raced = m.metrics().cancelsRaced - raced0;
      tally.raced += raced;
      assert.ok(tally.cancelled - c0 > 0, 'nothing was cancelled: the test tested nothing');
      assert.equal(m.metrics().opsPending, 0, 'ops pending');
      m.close();
      assertFdsAsBefore(fdt0, 'fds leaked or closed twice');
    });
  }
}

test('accept and connect under random cancels: every fd closed once, no connection lost', async () => {
  const name = 'accept/connect';
  const rng = rngFor(name);
  const fds0 = fdCount();
  const fdt0 = fdSnapshot();
  const m = createMachine();
  const listener = await m.tcpListen('127.0.0.1', 0, 4096);
  const port = await localPort(m, listener);
  const N = scaled(1500);
  let attempts = 0;
  let connected = 0;
  let accepted = 0;
  const c0 = tally.cancelled;
  await watchProgress(m, 20_000, name, () => attempts + accepted, async () => {
    const connector = m.spin(async () => {
      for (let i = 0; i < N; i++) {
        attempts++;
        try {
          const fd = await underCancel(m, rng, () => m.tcpConnect('127.0.0.1', port));
          connected++;
          await m.close(fd);
        } catch (e) {
          cancelled(e);
        }
      }
    });
    let connectorDone = false;
    const acceptor = m.spin(async () => {
      for (;;) {
        // After the connector, drain the backlog: a plain accept with a
        // bound that only expires once the backlog is empty.
        const draining = connectorDone;
        try {
          const fd = draining ? await m.timeout(200, () => m.accept(listener)) : await underCancel(m, rng, () => m.accept(listener));
          accepted++;
          await m.close(fd);
        } catch (e) {
          if (draining && e instanceof TimeoutError) return;
          cancelled(e);
        }
      }
    });
    await m.join(connector);
    connectorDone = true;
    // One more connection: an accept waiting without a cancel (underCancel
    // picked none) and an empty backlog would wait forever.
    attempts++;
    await m.close(await m.tcpConnect('127.0.0.1', port));
    connected++;
    await m.join(acceptor);
  });
  await m.close(listener);
  tally.ops += attempts + accepted;
  const fdsLeft = fdCount() - fds0 - 2; // the ring and its eventfd are still open
  // A connect cancelled after the handshake leaves a connection in the
  // backlog (its socket closed by tcpConnect): accepted can exceed connected.
  assert.ok(connected <= accepted && accepted <= attempts, `connected ${connected}, accepted ${accepted}, attempts ${attempts}, fds left ${fdsLeft}`);
  assert.ok(tally.cancelled > c0, 'nothing was cancelled');
  assert.equal(m.metrics().opsPending, 0);
  m.close();
  assertFdsAsBefore(fdt0, 'fds leaked or closed twice');
});

test('open, read and close of files under random cancels: every fd closed once', async (t) => {
  const name = 'open/close';
  const rng = rngFor(name);
  const dirs = [tmpDir(t)];
  const shm = `/dev/shm/um-stress-${process.pid}`;
  try {
    writeFileSync(`${shm}-probe`, '');
    dirs.push(shm);
  } catch {
    // no /dev/shm: the disk directory only
  }
  const { mkdirSync, rmSync } = await import('node:fs');
  if (dirs.length > 1) {
    rmSync(`${shm}-probe`);
    mkdirSync(shm, { recursive: true });
    t.after(() => rmSync(shm, { recursive: true, force: true }));
  }
  const files: string[] = [];
  for (const d of dirs) {
    for (let i = 0; i < 16; i++) {
      const p = join(d, `f${i}`);
      writeFileSync(p, Buffer.alloc(i * 100, i));
      files.push(p);
    }
  }
  const fdt0 = fdSnapshot();
  const m = createMachine();
  const N = scaled(4000);
  let opened = 0;
  let closed = 0;
  const c0 = tally.cancelled;
  await watchProgress(m, 20_000, name, () => opened + tally.cancelled, async () => {
    const fibers = [];
    for (let f = 0; f < 4; f++) {
      fibers.push(
        m.spin(async () => {
          for (let i = 0; i < N / 4; i++) {
            const p = rng.pick(files);
            try {
              if (rng.chance(0.5)) {
                const fd = await underCancel(m, rng, () => m.open(p, C.O_RDONLY!));
                opened++;
                try {
                  const b = Buffer.alloc(2048);
                  await underCancel(m, rng, () => m.read(fd, b));
                } catch (e) {
                  cancelled(e);
                } finally {
                  await m.close(fd);
                  closed++;
                }
              } else {
                // The callback form closes the fd itself, whatever happens inside.
                await underCancel(m, rng, () => m.open(p, C.O_RDONLY!, 0o666, (fd) => m.read(fd, Buffer.alloc(2048))));
                opened++;
                closed++;
              }
              tally.ops++;
            } catch (e) {
              cancelled(e);
            }
          }
        }),
      );
    }
    await m.join(fibers);
  });
  assert.equal(opened, closed);
  assert.ok(tally.cancelled > c0, 'nothing was cancelled');
  assert.equal(m.metrics().opsPending, 0);
  m.close();
  assertFdsAsBefore(fdt0, 'fds leaked or closed twice');
});

test('m.close(fd) under a pending read, write or recv: the op settles, the fd is closed once', async () => {
  const name = 'close(fd) under a pending op';
  const rng = rngFor(name);
  const fdt0 = fdSnapshot();
  const m = createMachine();
  const N = scaled(1500);
  let settled = 0;
  for (let i = 0; i < N; i++) {
    const kind = rng.pick(['pipe-read', 'pipe-write', 'unix-recv', 'readEach'] as const);
    const when = rng.int(3);
    await watchdog(m, 10_000, `${name}: round ${i}, ${kind} closed at point ${when}`, async () => {
      const [a, b] = kind.startsWith('unix') ? UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0) : UM.pipe();
      // The fd the op waits on, and the other end.
      const [target, other] = kind === 'pipe-write' ? [b!, a!] : [a!, b!];
      const f = m.spin(async () => {
        try {
          if (kind === 'pipe-read') await m.read(target, Buffer.alloc(64));
          else if (kind === 'unix-recv') await m.recv(target, Buffer.alloc(64));
          else if (kind === 'readEach') for await (const _ of m.readEach(target)) void _;
          else for (;;) await m.write(target, Buffer.alloc(65536)); // fills the pipe, then waits
        } catch (e) {
          if (!(e instanceof UMError)) throw e;
        }
        settled++;
      });
      // Close at a random point: before the op is submitted, while it waits, or as data arrives.
      if (when > 0) await m.snooze();
      if (when > 1) await m.sleep(0.05);
      if (rng.chance(0.3) && kind !== 'pipe-write') m.write(other, 'x').catch(() => undefined);
      await m.close(target);
      await m.join(f);
      await m.close(other);
      tally.cancelled++;
    });
  }
  assert.equal(settled, N);
  assert.equal(m.metrics().opsPending, 0);
  m.close();
  assertFdsAsBefore(fdt0, 'fds leaked or closed twice');
});

test('Queue shift/pop under random cancels, pushes interleaved: every item exactly once', async () => {
  const name = 'queue';
  const rng = rngFor(name);
  const m = createMachine();
  const q = new Queue<number>();
  const N = scaled(50_000);
  const seen = new Uint8Array(N);
  let got = 0;
  const c0 = tally.cancelled;
  const slots: Slot[] = [{ fiber: undefined }, { fiber: undefined }, { fiber: undefined }];
  let stop = false;
  await watchProgress(m, 20_000, name, () => got + tally.cancelled, async () => {
    const producer = m.spin(async () => {
      for (let i = 0; i < N; i++) {
        if (rng.chance(0.5)) m.push(q, i);
        else m.unshift(q, i);
        if (rng.chance(0.3)) await m.snooze();
        if (rng.chance(0.01)) await m.sleep(0.05);
      }
    });
    const consumers = slots.map((slot) =>
      supervise(
        m,
        slot,
        () => got >= N,
        async () => {
          while (got < N) {
            try {
              const v = await underCancel(m, rng, () => (rng.chance(0.5) ? m.shift(q) : m.pop(q)));
              if (v === -1) continue; // the end: see fin below
              assert.equal(seen[v], 0, `item ${v} twice (${seedNote()})`);
              seen[v] = 1;
              got++;
              tally.ops++;
            } catch (e) {
              cancelled(e);
            }
          }
        },
        async () => {
          // Wake the other consumers still waiting once everything arrived.
          if (got >= N) for (let k = 0; k < slots.length; k++) m.push(q, -1);
        },
      ),
    );
    const ch0 = chaos(m, rng, slots, () => stop, 0.5);
    await m.join(producer);
    try {
      await m.join(consumers);
    } finally {
      stop = true;
    }
    await m.join(ch0);
  });
  assert.equal(seen.reduce((a, b) => a + b, 0), N, 'items lost');
  assert.ok(tally.cancelled > c0, 'nothing was cancelled');
  assert.equal(m.metrics().opsPending, 0);
  m.close();
});

// Every family above checks that its cancels happened; this checks that,
// over the file, some of them met a completion that won (metrics().cancelsRaced),
// which is the race the families are about (14,238 of 44,190 at CI scale).
test('the families raced completions against their cancels', (t) => {
  if (tally.cancelled === 0) return t.skip('no family ran (a --test-name-pattern replay)');
  assert.ok(tally.raced > 0, `no cancel met a completion in ${tally.cancelled} cancels: the races were not exercised (${seedNote()})`);
});
