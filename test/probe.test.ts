// UringMachine.probe() (issue 12): whether io_uring works, without throwing,
// with the constructor's diagnosis as the reason where it does not.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { release } from 'node:os';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { UringMachine, type ProbeResult } from 'uringmachine';
import { seccompDeny } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('../../test/fixtures/probe.mjs', import.meta.url));

interface Report {
  threw: boolean;
  error?: string;
  result: ProbeResult;
  leaked: number;
}

function run(argv: string[]): Report {
  const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', cwd: root, timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as Report;
}

test('probe() where io_uring works: ok, the kernel release, features as the machine reports them', () => {
  const p = UringMachine.probe();
  assert.equal(p.ok, true);
  assert.equal(p.reason, null);
  assert.equal(p.code, null);
  assert.equal(p.syscall, null);
  assert.equal(p.kernel, release());
  const m = new UringMachine({ entries: 8 });
  try {
    assert.equal(p.features.multishotRead, m.supports('READ_MULTISHOT'));
    assert.equal(p.features.futex, m.supports('FUTEX_WAIT') && m.supports('FUTEX_WAKE'));
    assert.equal(p.features.waitid, m.supports('WAITID'));
    assert.equal(p.features.bindListen, m.supports('BIND') && m.supports('LISTEN'));
  } finally {
    m.close();
  }
  for (const v of Object.values(p.features)) assert.equal(typeof v, 'boolean');
});

test('probe() sets up and releases its ring: no fd left open, the process exits by itself', () => {
  const r = run([process.execPath, fixture]);
  assert.equal(r.threw, false);
  assert.equal(r.result.ok, true);
  assert.equal(r.leaked, 0);
});

for (const [rule, syscall] of [
  ['setup', 'io_uring_setup'],
  ['register', 'io_uring_register'],
  ['enter', 'io_uring_enter'],
] as const) {
  test(`probe() with ${syscall} denied by seccomp: not ok, does not throw, the reason names ${syscall} and the filter`, () => {
    const r = run([seccompDeny(), rule, '--', process.execPath, fixture]);
    assert.equal(r.threw, false, r.error);
    assert.equal(r.result.ok, false);
    assert.equal(r.result.code, 'EPERM');
    assert.equal(r.result.syscall, syscall);
    assert.match(r.result.reason!, new RegExp(syscall));
    assert.match(r.result.reason!, /seccomp/);
    assert.equal(r.result.kernel, release());
    assert.ok(Object.values(r.result.features).every((v) => v === false));
    assert.equal(r.leaked, 0);
  });
}
