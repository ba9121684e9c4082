// RESP2/RESP3: Stream.respDecode over pool buffers smaller than the values,
// Stream.respEncode / respEncodeCmd, round trips, errors and hostile input.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RESP_PUSH, Stream, TimeoutError, UM, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine } from './helpers.js';

function machine(): UringMachine {
  return createMachine({ bufferPool: { bufferSize: 32, initialBuffers: 4, maxBytes: 64 * 1024 } });
}

/** A stream over a pipe fed with `pieces` (each written separately), then EOF. */
function streamOf(m: UringMachine, pieces: (string | Buffer)[]): { s: Stream; done: () => Promise<void> } {
  const [r, w] = UM.pipe();
  const f = m.spin(async () => {
    for (const p of pieces) {
      const b = typeof p === 'string' ? Buffer.from(p) : p;
      for (let off = 0; off < b.length; ) off += await m.write(w, b.subarray(off));
      await m.sleep(0.2);
    }
    await m.close(w);
  });
  return {
    s: m.stream(r),
    done: async () => {
      await m.join(f);
      await m.close(r);
    },
  };
}

test('respDecode: every RESP2 and RESP3 type, split across completions and pool buffers', async () => {
  const m = machine();
  const wire =
    '+OK\r\n:42\r\n:-7\r\n:123456789012345678901\r\n$11\r\nhello world\r\n$-1\r\n$0\r\n\r\n' +
    '*3\r\n$3\r\nSET\r\n:1\r\n*2\r\n+a\r\n-ERR nested\r\n*-1\r\n*0\r\n' +
    '_\r\n#t\r\n#f\r\n,3.25\r\n,inf\r\n,-inf\r\n,nan\r\n(3492890328409238509324850943850943825024385\r\n' +
    '=15\r\ntxt:Some string\r\n%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n#f\r\n~3\r\n:1\r\n:2\r\n+three\r\n' +
    '>2\r\n+message\r\n$5\r\nhello\r\n|1\r\n+ttl\r\n:3600\r\n$5\r\nvalue\r\n$4\r\nüß\r\n';
  // Split the wire at irregular points so values straddle completions.
  const pieces: string[] = [];
  for (let i = 0, k = 1; i < wire.length; i += k, k = (k * 7) % 23 + 1) pieces.push(wire.slice(i, i + k));
  const { s, done } = streamOf(m, [Buffer.from(pieces.join(''))].flatMap((b) => {
    const out: Buffer[] = [];
    for (let i = 0, k = 3; i < b.length; i += k, k = (k * 5) % 17 + 1) out.push(b.subarray(i, i + k));
    return out;
  }));
  assert.equal(await s.respDecode(), 'OK');
  assert.equal(await s.respDecode(), 42);
  assert.equal(await s.respDecode(), -7);
  assert.equal(await s.respDecode(), 123456789012345678901n);
  assert.equal(await s.respDecode(), 'hello world');
  assert.equal(await s.respDecode(), null);
  assert.equal(await s.respDecode(), '');
  const arr = (await s.respDecode()) as unknown[];
  assert.equal(arr[0], 'SET');
  assert.equal(arr[1], 1);
  const inner = arr[2] as unknown[];
  assert.equal(inner[0], 'a');
  assert.ok(inner[1] instanceof Stream.RESPError, 'a nested error is an element');
  assert.equal((inner[1] as Error).message, 'ERR nested');
  assert.equal((inner[1] as InstanceType<typeof Stream.RESPError>).kind, 'ERR');
  assert.equal(await s.respDecode(), null);
  assert.deepEqual(await s.respDecode(), []);
  assert.equal(await s.respDecode(), null);
  assert.equal(await s.respDecode(), true);
  assert.equal(await s.respDecode(), false);
  assert.equal(await s.respDecode(), 3.25);
  assert.equal(await s.respDecode(), Infinity);
  assert.equal(await s.respDecode(), -Infinity);
  assert.ok(Number.isNaN(await s.respDecode()));
  assert.equal(await s.respDecode(), 3492890328409238509324850943850943825024385n);
  assert.equal(await s.respDecode(), 'Some string');
  assert.deepEqual(await s.respDecode(), new Map<unknown, unknown>([['first', 1], ['second', false]]));
  assert.deepEqual(await s.respDecode(), new Set<unknown>([1, 2, 'three']));
  const push = (await s.respDecode()) as unknown[] & { [RESP_PUSH]?: boolean };
  assert.deepEqual([...push], ['message', 'hello']);
  assert.equal(push[RESP_PUSH], true);
  assert.equal(await s.respDecode(), 'value', 'attributes are read and dropped');
  assert.equal(await s.respDecode(), 'üß');
  assert.equal(await s.respDecode(), undefined, 'EOF before a value');
  await done();
  assertNoPendingOps(m);
});

test('respDecode: a top-level error reply rejects with Stream.RESPError; the stream goes on', async () => {
  const m = machine();
  const { s, done } = streamOf(m, ['-WRONGTYPE Operation against a key\r\n!21\r\nSYNTAX invalid syntax\r\n+after\r\n']);
  await assert.rejects(s.respDecode(), (e: unknown) => e instanceof Stream.RESPError && (e as { kind: string }).kind === 'WRONGTYPE');
  await assert.rejects(s.respDecode(), (e: unknown) => e instanceof Stream.RESPError && (e as Error).message === 'SYNTAX invalid syntax');
  assert.equal(await s.respDecode(), 'after');
  await done();
  assertNoPendingOps(m);
});

test('respDecode: malformed and truncated input reject with ERR_RESP_PROTOCOL', async () => {
  const cases: [string, RegExp][] = [
    ['?what\r\n', /unknown RESP type/],
    [':12x\r\n', /bad integer/],
    ['$5\r\nabc', /EOF inside a bulk/],
    ['$3\r\nabcd\r\n', /not followed by CRLF/],
    ['*2\r\n+a\r\n', /EOF inside a value/],
    ['$-5\r\n', /bad bulk length/],
    [`$${2 ** 40}\r\n`, /bad bulk length/],
    ['#x\r\n', /bad boolean/],
    [`+${'a'.repeat(70_000)}\r\n`, /line longer/],
  ];
  for (const [wire, re] of cases) {
    const m = machine();
    const { s, done } = streamOf(m, [wire]);
    await assert.rejects(s.respDecode(), (e: unknown) => (e as { code?: string }).code === 'ERR_RESP_PROTOCOL' && re.test((e as Error).message), wire.slice(0, 20));
    await s.release();
    await done();
    assertNoPendingOps(m);
  }
});

test('respEncode and respEncodeCmd: exact bytes', () => {
  assert.equal(Stream.respEncodeCmd('SET', 'key', 'value').toString(), '*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n');
  assert.equal(Stream.respEncodeCmd('INCRBY', 'n', 10, 5n).toString(), '*4\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$2\r\n10\r\n$1\r\n5\r\n');
  assert.equal(Stream.respEncodeCmd('SET', Buffer.from([0, 255])).toString('latin1'), '*2\r\n$3\r\nSET\r\n$2\r\n\x00\xff\r\n');
  assert.equal(Stream.respEncodeCmd('GET', 'ü').toString(), '*2\r\n$3\r\nGET\r\n$2\r\nü\r\n');
  assert.throws(() => Stream.respEncodeCmd('SET', {} as never), TypeError);
  const E = (v: unknown) => Stream.respEncode(v).toString();
  assert.equal(E('hi'), '$2\r\nhi\r\n');
  assert.equal(E(-12), ':-12\r\n');
  assert.equal(E(1.5), ',1.5\r\n');
  assert.equal(E(Infinity), ',inf\r\n');
  assert.equal(E(12345678901234567890n), '(12345678901234567890\r\n');
  assert.equal(E(true), '#t\r\n');
  assert.equal(E(null), '$-1\r\n');
  assert.equal(E(new Stream.RESPError('ERR bad\r\nthing')), '-ERR bad thing\r\n');
  assert.equal(E(['a', [1, null]]), '*2\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n');
  assert.equal(E(new Map([['k', 1]])), '%1\r\n$1\r\nk\r\n:1\r\n');
  assert.equal(E({ k: 'v' }), '%1\r\n$1\r\nk\r\n$1\r\nv\r\n');
  assert.equal(E(new Set([1])), '~1\r\n:1\r\n');
  assert.throws(() => Stream.respEncode(() => 1), TypeError);
  const cyc: unknown[] = [];
  cyc.push(cyc);
  assert.throws(() => Stream.respEncode(cyc), RangeError);
});

test('round trip: 300 random values (seeded), encoded, sent through a pipe in odd pieces, decoded equal', async () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const gen = (depth: number): unknown => {
    switch (rnd(depth > 2 ? 6 : 9)) {
      case 0:
        return 'str' + 'x'.repeat(rnd(100)) + (rnd(2) ? 'é€' : '');
      case 1:
        return rnd(1_000_000) - 500_000;
      case 2:
        return null;
      case 3:
        return rnd(2) === 1;
      case 4:
        return rnd(1000) / 8 + 0.5;
      case 5:
        return BigInt(rnd(1000)) * 10n ** 30n;
      case 6:
        return Array.from({ length: rnd(5) }, () => gen(depth + 1));
      case 7:
        return new Map(Array.from({ length: rnd(4) }, (_, i) => [`k${i}`, gen(depth + 1)]));
      default:
        return new Set(Array.from({ length: rnd(4) }, (_, i) => i * 3));
    }
  };
  const values = Array.from({ length: 300 }, () => gen(0));
  const wire = Buffer.concat(values.map((v) => Stream.respEncode(v)));
  const pieces: Buffer[] = [];
  for (let i = 0; i < wire.length; ) {
    const k = 1 + rnd(200);
    pieces.push(wire.subarray(i, i + k));
    i += k;
  }
  const m = machine();
  const { s, done } = streamOf(m, pieces);
  for (const v of values) assert.deepEqual(await s.respDecode(), v);
  assert.equal(await s.respDecode(), undefined);
  await done();
  assertNoPendingOps(m);
});

test('respDecode: a 10 MiB bulk string and a 100,000-element array', async () => {
  const m = createMachine({ bufferPool: { bufferSize: 16384, initialBuffers: 4, maxBytes: 16 * 1024 * 1024 } });
  const big = 'z'.repeat(10 * 1024 * 1024);
  const arr = Array.from({ length: 100_000 }, (_, i) => i);
  const [r, w] = UM.pipe();
  const f = m.spin(async () => {
    for (const b of [Stream.respEncode(big), Stream.respEncode(arr)]) {
      let off = 0;
      while (off < b.length) off += await m.write(w, b.subarray(off, off + 65536));
    }
    await m.close(w);
  });
  const s = m.stream(r);
  assert.equal(await s.respDecode(), big);
  assert.deepEqual(await s.respDecode(), arr);
  await m.join(f);
  await m.close(r);
  assertNoPendingOps(m);
});

test('respDecode cut by m.timeout while every RESP2/RESP3 type trickles in: the retried decodes give what one uncut decode gives', async () => {
  // A decode waits for its whole value before it consumes a byte, so a
  // timeout half way through a map, an attribute or a bulk string leaves
  // the stream where it was and the retry decodes the same value.
  const m = machine();
  const wire =
    '+OK\r\n:42\r\n$11\r\nhello world\r\n$-1\r\n$0\r\n\r\n*3\r\n$3\r\nSET\r\n:1\r\n*2\r\n+a\r\n-ERR nested\r\n*-1\r\n*0\r\n' +
    '_\r\n#t\r\n,3.25\r\n(3492890328409238509324850943850943825024385\r\n!21\r\nSYNTAX invalid syntax\r\n' +
    '=15\r\ntxt:Some string\r\n%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n#f\r\n~3\r\n:1\r\n:2\r\n+three\r\n' +
    '>2\r\n+message\r\n$5\r\nhello\r\n|1\r\n+ttl\r\n:3600\r\n$5\r\nvalue\r\n*2\r\n%1\r\n$1\r\nk\r\n*1\r\n$300\r\n' +
    'x'.repeat(300) +
    '\r\n|1\r\n+a\r\n+b\r\n:7\r\n$4\r\nüß\r\n';
  const decodeAll = async (s: Stream, cut: boolean): Promise<unknown[]> => {
    const out: unknown[] = [];
    for (let k = 0; ; k++) {
      let v: unknown;
      try {
        v = cut ? await m.timeout(k % 2, () => s.respDecode()) : await s.respDecode();
      } catch (e) {
        if (e instanceof TimeoutError) continue;
        v = e; // an error reply is thrown at top level: keep it in the sequence
      }
      if (v === undefined) return out;
      out.push(v);
    }
  };
  const whole = streamOf(m, [wire]);
  const expected = await decodeAll(whole.s, false);
  await whole.done();
  assert.equal(expected.length, 20);
  // Pieces of 1-9 bytes, 0.2 ms apart: every value is split many times.
  const pieces: string[] = [];
  for (let i = 0, k = 1; i < wire.length; i += k, k = (k % 9) + 1) pieces.push(wire.slice(i, i + k));
  const cut = streamOf(m, pieces);
  const got = await decodeAll(cut.s, true);
  await cut.done();
  assert.deepEqual(got, expected);
  assertNoPendingOps(m);
});
