// Issue 9.7: with io_uring_enter denied (a seccomp policy) the machine
// constructed and every op hung; with io_uring_register denied the error
// blamed the sysctl. Now: the constructor names the syscall that is denied
// and the seccomp filter; where only submissions fail, every op rejects
// with the enter's UMError and nothing is left pending.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { seccompDeny } from '../helpers.js';

const fixture = fileURLToPath(new URL('../../../test/fixtures/enter-denied.mjs', import.meta.url));

interface Report {
  constructed: boolean;
  error?: { name: string; code: string; syscall: string; message: string };
  errors?: { code: string; syscall: string }[];
  pending?: number;
  transient?: number;
}

function run(rule: string): Report {
  const out = execFileSync(seccompDeny(), [rule, '--', process.execPath, fixture, rule], {
    encoding: 'utf8',
    timeout: 60_000, // a hang detector, not a timing threshold
    // Node 24's libuv uses io_uring itself for fs work and aborts when the
    // filter refuses it: keep libuv on its thread pool in the child.
    env: { ...process.env, UV_USE_IO_URING: '0' },
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Report;
}

for (const [rule, syscall] of [
  ['setup', 'io_uring_setup'],
  ['register', 'io_uring_register'],
  ['enter', 'io_uring_enter'],
] as const) {
  test(`${syscall} denied by seccomp: new UringMachine() throws a UMError naming ${syscall} and the seccomp filter`, () => {
    const r = run(rule);
    assert.equal(r.constructed, false);
    assert.equal(r.error!.name, 'UMError');
    assert.equal(r.error!.code, 'EPERM');
    assert.equal(r.error!.syscall, syscall);
    assert.match(r.error!.message, /seccomp/);
    assert.match(r.error!.message, new RegExp(syscall));
    // The sysctl is not blamed when it is not the cause.
    assert.doesNotMatch(r.error!.message, /io_uring_disabled is 2/);
  });
}

test('every submission denied (enter with to_submit > 0): each op rejects with EPERM io_uring_enter, none hangs', () => {
  const r = run('enter-submit');
  assert.equal(r.constructed, true);
  assert.equal(r.errors!.length, 4, JSON.stringify(r.errors));
  for (const e of r.errors!) assert.equal(e.code, 'EPERM');
  assert.equal(r.errors![0]!.syscall, 'io_uring_enter');
  assert.equal(r.pending, 0);
  assert.equal(r.transient, 0);
});
