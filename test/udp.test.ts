// recvmsgEach (issue 15): multishot recvmsg on provided buffers yields each
// datagram with its sender's address; loopback UDP only, bounded loops.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { constants as C, TimeoutError, UM } from 'uringmachine';

import { assertNoPendingOps, createMachine, settle } from './helpers.js';
import { localPort } from './local-port.js';

const SOCK_DGRAM = C.SOCK_DGRAM!;
const skip = UM.kernelVersion() < 600 && 'multishot recvmsg needs Linux >= 6.0';

test('recvmsgEach: datagrams from two senders (IPv4), in order, each with its sender; echo replies', { skip }, async () => {
  const m = createMachine();
  const srv = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(srv, '127.0.0.1', 0);
  const port = localPort(srv);
  const a = await m.socket(C.AF_INET!, SOCK_DGRAM);
  const b = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(a, '127.0.0.1', 0);
  await m.bind(b, '127.0.0.1', 0);
  const got: { text: string; port: number; host: string }[] = [];
  const server = m.spin(async () => {
    for await (const d of m.recvmsgEach(srv)) {
      got.push({ text: d.data.toString(), port: d.port, host: d.host });
      assert.equal(d.truncated, false);
      await m.sendto(srv, d.data, d.host, d.port);
      if (got.length === 20) break;
    }
  });
  for (let i = 0; i < 10; i++) {
    await m.sendto(a, `a${i}`, '127.0.0.1', port);
    await m.sendto(b, `b${i}`, '127.0.0.1', port);
  }
  const buf = Buffer.alloc(64);
  const backA: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await m.recvfrom(a, buf);
    backA.push(buf.subarray(0, r.bytes).toString());
    assert.equal(r.port, port);
  }
  await m.join(server);
  assert.deepEqual(backA, Array.from({ length: 10 }, (_, i) => `a${i}`));
  assert.deepEqual(got.filter((x) => x.text.startsWith('a')).map((x) => x.text), backA);
  for (const x of got) {
    assert.equal(x.host, '127.0.0.1');
    assert.equal(x.port, localPort(x.text.startsWith('a') ? a : b));
  }
  for (const fd of [srv, a, b]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('recvmsgEach: IPv6, an empty datagram, a datagram longer than a buffer is marked truncated', { skip }, async () => {
  const m = createMachine({ bufferPool: { bufferSize: 1024 } });
  const srv = await m.socket(C.AF_INET6!, SOCK_DGRAM);
  await m.bind(srv, '::1', 0);
  const port = localPort(srv);
  const c = await m.socket(C.AF_INET6!, SOCK_DGRAM);
  const it = m.recvmsgEach(srv);
  await m.sendto(c, Buffer.alloc(0), '::1', port);
  await m.sendto(c, Buffer.alloc(5000, 7), '::1', port);
  const first = (await it.next()).value!;
  assert.equal(first.data.length, 0);
  assert.equal(first.host, '::1');
  const second = (await it.next()).value!;
  assert.equal(second.truncated, true);
  assert.ok(second.data.length > 0 && second.data.length < 5000);
  assert.ok(second.data.every((x: number) => x === 7));
  await it.return!();
  for (const fd of [srv, c]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('recvmsgEach: cancelled by m.timeout and terminate; the natural error (ENOTSOCK); bad arguments', { skip }, async () => {
  const m = createMachine();
  const srv = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(srv, '127.0.0.1', 0);
  await assert.rejects(
    m.timeout(5, async () => {
      for await (const d of m.recvmsgEach(srv)) void d;
    }),
    TimeoutError,
  );
  const f = m.spin(async () => {
    for await (const d of m.recvmsgEach(srv)) void d;
  });
  await m.sleep(2);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  const [r, w] = UM.pipe();
  await assert.rejects(async () => {
    for await (const d of m.recvmsgEach(r)) void d;
  }, { name: 'UMError', code: 'ENOTSOCK' });
  assert.throws(() => m.recvmsgEach(-1), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => m.recvmsgEach(srv, 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  for (const fd of [srv, r, w]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('examples/udp-echo echoes datagrams and exits cleanly on SIGTERM', { skip }, async () => {
  const { spawn } = await import('node:child_process');
  const script = new URL('../examples/udp-echo.js', import.meta.url);
  const child = spawn(process.execPath, [script.pathname], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const x = /listening (\d+)/.exec(out);
      if (x) resolve(Number(x[1]));
    });
    child.once('exit', () => reject(new Error(`exited early: ${out}`)));
  });
  const m = createMachine();
  const c = await m.socket(C.AF_INET!, SOCK_DGRAM);
  const buf = Buffer.alloc(32);
  for (let i = 0; i < 3; i++) {
    await m.sendto(c, `ping ${i}`, '127.0.0.1', port);
    const r = await m.timeout(5000, () => m.recvfrom(c, buf));
    assert.equal(buf.subarray(0, r.bytes).toString(), `ping ${i}`);
    assert.equal(r.port, port);
  }
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  await m.close(c);
  assertNoPendingOps(m);
});
