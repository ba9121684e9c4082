// Issue 12: socket names (getsockname/getpeername, the peer from accept and
// acceptEach), host names resolved off the loop, happy-eyeballs connects
// (RFC 8305) and the connect timeout. Loopback only.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { TimeoutError, UMError, type LookupAddress, type UringMachine } from 'uringmachine';
import { assertNoPendingOps, createMachine, procPort, tmpDir } from './helpers.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

/**
 * A listener on ::1 whose accept queue is full (backlog 0, one connection
 * queued, never accepted): the kernel drops further SYNs, so a connect to
 * it stays pending until cancelled. Returns [listener, queued client, port].
 */
async function blackhole(m: UringMachine): Promise<[number, number, number]> {
  const l = await m.tcpListen('::1', 0, 0);
  const port = m.getsockname(l).port;
  const queued = await m.tcpConnect('::1', port);
  return [l, queued, port];
}

/** A lookup answering `addrs` for any name, counting its calls. */
function fixedLookup(addrs: LookupAddress[]): { lookup: (h: string) => Promise<LookupAddress[]>; names: string[] } {
  const names: string[] = [];
  return { names, lookup: async (h) => (names.push(h), addrs) };
}

test('getsockname reports the port tcpListen(host, 0) got; getpeername and accept({ peer: true }) name the other end', async () => {
  const m = createMachine();
  const l = await m.tcpListen('127.0.0.1', 0);
  const local = m.getsockname(l);
  assert.equal(local.address, '127.0.0.1');
  assert.equal(local.family, 'IPv4');
  assert.ok(local.port > 0);
  assert.equal(local.port, procPort(l));
  const [conn, client] = await Promise.all([m.accept(l, { peer: true }), m.tcpConnect('127.0.0.1', local.port)]);
  assert.deepEqual(m.getpeername(client), local);
  const me = m.getsockname(client);
  assert.deepEqual({ address: conn.address, port: conn.port, family: conn.family }, me);
  assert.equal(me.port, procPort(client));
  assert.deepEqual(m.getpeername(conn.fd), me);
  // A listener has no peer; a bad fd is a TypeError before any syscall.
  assert.throws(() => m.getpeername(l), (e: unknown) => e instanceof UMError && e.code === 'ENOTCONN' && e.syscall === 'getpeername');
  assert.throws(() => m.getsockname(-1 as number), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => m.getsockname('3' as unknown as number), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.accept(l, { peer: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
  for (const fd of [conn.fd, client, l]) await m.close(fd);
  assertNoPendingOps(m);
});

test('IPv6 and unix sockets: getsockname / getpeername families and addresses', async (t) => {
  const m = createMachine();
  const l6 = await m.tcpListen('::1', 0);
  const n6 = m.getsockname(l6);
  assert.deepEqual({ address: n6.address, family: n6.family }, { address: '::1', family: 'IPv6' });
  const path = join(tmpDir(t), 's');
  const C = (await import('uringmachine')).constants;
  const lu = await m.socket(C.AF_UNIX!, C.SOCK_STREAM!);
  await m.bind(lu, path);
  await m.listen(lu);
  assert.deepEqual(m.getsockname(lu), { address: path, port: 0, family: 'unix' });
  const cu = await m.socket(C.AF_UNIX!, C.SOCK_STREAM!);
  const [au] = await Promise.all([m.accept(lu, { peer: true }), m.connect(cu, path)]);
  assert.deepEqual(m.getpeername(cu), { address: path, port: 0, family: 'unix' });
  assert.equal(au.family, 'unix');
  assert.equal(au.address, ''); // an unbound client has no name
  for (const fd of [au.fd, cu, lu, l6]) await m.close(fd);
  assertNoPendingOps(m);
});

test('acceptEach({ peer: true }) yields { fd, address, port, family } per connection; break stops the multishot accept', async () => {
  const m = createMachine();
  const l = await m.tcpListen('127.0.0.1', 0);
  const port = m.getsockname(l).port;
  const clients: number[] = [];
  const connector = m.spin(async () => {
    for (let i = 0; i < 3; i++) clients.push(await m.tcpConnect('127.0.0.1', port));
  });
  const seen: { fd: number; port: number; family: string }[] = [];
  for await (const c of m.acceptEach(l, { peer: true })) {
    seen.push(c);
    if (seen.length === 3) break;
  }
  await m.join(connector);
  assert.deepEqual(
    seen.map((c) => c.port).sort(),
    clients.map((fd) => m.getsockname(fd).port).sort(),
  );
  for (const c of seen) assert.equal(c.family, 'IPv4');
  for (const fd of [...seen.map((c) => c.fd), ...clients, l]) await m.close(fd);
  assertNoPendingOps(m);
});

test('host names: tcpListen and tcpConnect resolve localhost with node:dns; a custom lookup is used when given', async () => {
  const m = createMachine();
  const l = await m.tcpListen('localhost', 0);
  const { port, address } = m.getsockname(l);
  assert.ok(address === '127.0.0.1' || address === '::1', address);
  const [a, c] = await Promise.all([m.accept(l), m.tcpConnect('localhost', port)]);
  assert.equal(m.getpeername(c).port, port);
  const { lookup, names } = fixedLookup([{ address, family: address === '::1' ? 6 : 4 }]);
  const [a2, c2] = await Promise.all([m.accept(l), m.tcpConnect('db.internal', port, { lookup })]);
  assert.deepEqual(names, ['db.internal']);
  // connect(fd, name): the first address of the socket's family.
  const C = (await import('uringmachine')).constants;
  const s = await m.socket(address === '::1' ? C.AF_INET6! : C.AF_INET!, C.SOCK_STREAM!);
  const [a3] = await Promise.all([m.accept(l), m.connect(s, 'localhost', port)]);
  assert.equal(m.getpeername(s).port, port);
  for (const fd of [a, c, a2, c2, a3, s, l]) await m.close(fd);
  assertNoPendingOps(m);
});

test('happy eyeballs: an IPv6 attempt that hangs loses to the IPv4 one started after it; the loser is cancelled and closed', async () => {
  const m = createMachine();
  const [l6, queued, port] = await blackhole(m);
  const l4 = await m.tcpListen('127.0.0.1', port);
  const before = openFds();
  const { lookup } = fixedLookup([
    { address: '::1', family: 6 },
    { address: '127.0.0.1', family: 4 },
  ]);
  const fd = await m.tcpConnect('dual.test', port, { lookup });
  assert.equal(m.getpeername(fd).family, 'IPv4');
  const conn = await m.accept(l4);
  // Only the winner and its accepted end are new; the IPv6 attempt's socket is closed
  // and its kernel connect cancelled (nothing pending).
  assert.equal(openFds() - before, 2);
  assert.equal(m.metrics().opsPending, 0);
  for (const x of [fd, conn, l4, queued, l6]) await m.close(x);
  assertNoPendingOps(m);
});

test('happy eyeballs: attempts alternate the families; every address refused: an AggregateError with every attempt', async () => {
  const m = createMachine();
  // A port closed on both families: refused at once, so attempts follow each other without the stagger.
  const l6 = await m.tcpListen('::1', 0);
  const port = m.getsockname(l6).port;
  await m.close(l6);
  const { lookup } = fixedLookup([
    { address: '::1', family: 6 },
    { address: '::1', family: 6 },
    { address: '127.0.0.1', family: 4 },
  ]);
  const before = openFds();
  const e = await m.tcpConnect('dual.test', port, { lookup }).then(
    () => assert.fail('connected'),
    (x: unknown) => x as AggregateError & { code: string },
  );
  assert.ok(e instanceof AggregateError);
  assert.equal(e.code, 'ECONNREFUSED');
  assert.deepEqual(
    e.errors.map((x: UMError) => /\[::1\]|127\.0\.0\.1/.exec(x.message)![0]),
    ['[::1]', '127.0.0.1', '[::1]'],
  );
  assert.equal(openFds(), before);
  // One address: its own UMError.
  await assert.rejects(m.tcpConnect('127.0.0.1', port), (x: unknown) => x instanceof UMError && x.code === 'ECONNREFUSED');
  assertNoPendingOps(m);
});

test('timeout: the pending kernel connect is cancelled with a TimeoutError and its socket closed (tcpConnect and connect)', async () => {
  const m = createMachine();
  const [l6, queued, port] = await blackhole(m);
  const before = openFds();
  await assert.rejects(m.tcpConnect('::1', port, { timeout: 50 }), (e: unknown) => e instanceof TimeoutError && /timed out after 50 ms/.test(e.message));
  assert.equal(openFds(), before);
  assert.equal(m.metrics().opsPending, 0);
  const C = (await import('uringmachine')).constants;
  const s = await m.socket(C.AF_INET6!, C.SOCK_STREAM!);
  await assert.rejects(m.connect(s, '::1', port, { timeout: 50 }), TimeoutError);
  assert.equal(m.metrics().opsPending, 0);
  // A lookup that never answers: the wait for it is cancelled too.
  const never = (): Promise<LookupAddress[]> => new Promise(() => {});
  await assert.rejects(m.tcpConnect('slow.test', port, { lookup: never, timeout: 20 }), TimeoutError);
  // ... and so does a fiber's terminate.
  const f = m.spin(() => m.tcpConnect('slow.test', port, { lookup: never }));
  await m.sleep(5);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  for (const x of [s, queued, l6]) await m.close(x);
  assertNoPendingOps(m);
});

test('bad host, port or options reject before anything is submitted', async () => {
  const m = createMachine();
  const ops = m.metrics().totalOps;
  await assert.rejects(m.tcpConnect('', 80), { code: 'ERR_INVALID_ADDRESS' });
  await assert.rejects(m.tcpConnect('bad host', 80), { code: 'ERR_INVALID_ADDRESS' });
  await assert.rejects(m.tcpConnect('example.test', 70000), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.tcpConnect('example.test', 80, { timeout: 'soon' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.tcpConnect('example.test', 80, { lookup: 1 as unknown as () => Promise<LookupAddress[]> }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.tcpConnect('/tmp/x.sock', 80), { code: 'ERR_INVALID_ADDRESS' });
  await assert.rejects(m.tcpListen('', 0), { code: 'ERR_INVALID_ADDRESS' });
  const { lookup } = fixedLookup([]);
  await assert.rejects(m.tcpConnect('none.test', 80, { lookup }), /no address for none\.test/);
  assert.equal(m.metrics().totalOps, ops);
  assertNoPendingOps(m);
});
