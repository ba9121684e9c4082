// The machine itself: options, size, metrics, submit, wakeup, close and
// dispose, static helpers, constants, and the opcode table against our ABI header.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { constants as C, MachineClosedError, UM, UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine } from './helpers.js';

test('options, size and metrics', async () => {
  const m = createMachine({ entries: 64, maxSwitches: 8 });
  assert.equal(m.size, 64);
  const x = m.metrics();
  for (const k of ['size', 'totalOps', 'totalSwitches', 'totalWaits', 'opsPending', 'opsUnsubmitted', 'opsRunqueue', 'opsFree', 'opsTransient']) {
    assert.equal(typeof (x as unknown as Record<string, number>)[k], 'number', k);
  }
  assert.equal(x.size, 64);
  const p = m.sleep(1);
  assert.equal(m.metrics().opsPending, 1);
  assert.equal(m.metrics().opsUnsubmitted, 1); // written to the SQ, not entered yet
  assert.equal(m.submit(), 1);
  assert.equal(m.metrics().opsUnsubmitted, 0);
  await p;
  assert.equal(m.metrics().totalOps, 1);
  assert.ok(m.metrics().opsFree >= 1);
  m.wakeup(); // harmless when idle
  assert.equal(UM, UringMachine);
  assertNoPendingOps(m);
  const odd = createMachine({ entries: 100 });
  assert.equal(odd.size, 128); // the kernel rounds up to a power of two
  odd.close();
});

test('close twice, Symbol.dispose, ops after close', async () => {
  const m = createMachine();
  m.close();
  m.close();
  assert.equal(m.closed, true);
  await assert.rejects(m.sleep(1), MachineClosedError);
  assert.throws(() => m.spin(() => 1), MachineClosedError);
  {
    using d = createMachine();
    assert.equal(await d.sleep(1), 1);
  }
});

test('static helpers', async () => {
  assert.ok(UM.kernelVersion() >= 601);
  const [r, w] = UM.pipe();
  assert.equal(UM.ioNonblock(r), false);
  UM.setNonblock(r, true);
  assert.equal(UM.ioNonblock(r), true);
  UM.setNonblock(r, false);
  assert.equal(UM.ioNonblock(r), false);
  const [a, b] = UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0);
  const m = createMachine();
  await m.write(a, 'ping');
  const buf = Buffer.alloc(4);
  assert.equal(await m.read(b, buf), 4);
  assert.equal(buf.toString(), 'ping');
  for (const fd of [r, w, a, b]) await m.close(fd);
  // pidfd: signal a child through its pidfd
  const child = spawn('sleep', ['10'], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((res) => child.once('exit', (_c, sig) => res(sig)));
  const pidfd = UM.pidfdOpen(child.pid!);
  UM.pidfdSendSignal(pidfd, C.SIGTERM!);
  assert.equal(await exited, 'SIGTERM');
  await m.close(pidfd);
  assert.throws(() => UM.pidfdOpen(2 ** 22 + 12345), { code: 'ESRCH' });
  assertNoPendingOps(m);
});

test('constants come from the system headers', () => {
  const expected: Record<string, number> = {
    O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, AF_INET: 2, AF_INET6: 10, AF_UNIX: 1, SOCK_STREAM: 1,
    POLLIN: 1, POLLOUT: 4, SHUT_WR: 1, P_PID: 1, P_PIDFD: 3, SIGTERM: 15, STATX_SIZE: 0x200,
    STDIN_FILENO: 0, STDOUT_FILENO: 1, STDERR_FILENO: 2, AT_FDCWD: -100, AT_REMOVEDIR: 0x200,
  };
  for (const [k, v] of Object.entries(expected)) assert.equal(C[k], v, k);
  for (const prefix of ['O_', 'AT_', 'AF_', 'SOCK_', 'SOL_', 'SO_', 'IPPROTO_', 'TCP_', 'MSG_', 'SHUT_', 'POLL', 'STATX_', 'P_', 'W', 'SIG', 'SPLICE_F_', 'POSIX_FADV_', 'MADV_', 'XATTR_', 'RENAME_']) {
    assert.ok(Object.keys(C).some((k) => k.startsWith(prefix)), prefix);
  }
  assert.ok(Object.isFrozen(C));
});

test('the TS opcode table matches native/uring_abi.h', async () => {
  const { OPCODES } = await import(new URL('../../dist/op-kinds.js', import.meta.url).href);
  const header = readFileSync(new URL('../../native/uring_abi.h', import.meta.url), 'utf8');
  const inHeader = new Map<string, number>();
  for (const [, name, v] of header.matchAll(/UM_OP_([A-Z0-9_]+) = (\d+),/g)) inHeader.set(name!, Number(v));
  assert.ok(inHeader.size > 50);
  for (const [name, v] of Object.entries(OPCODES as Record<string, number>)) {
    assert.equal(inHeader.get(name), v, name);
  }
});
