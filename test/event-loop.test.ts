// Process behaviour, run as child processes: keep-alive, idle exit,
// unhandled fiber errors, the cross-process wake-up; and, in process, the
// event loop going on (timers, node:fs, node:net) while machine ops wait.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { UM } from 'uringmachine';

import { assertNoPendingOps, createMachine } from './helpers.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

function run(name: string, args: string[] = [], scriptArgs: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...args, fixtures + name, ...scriptArgs], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

test('an idle machine does not keep the process alive', async () => {
  const r = await run('idle-exit.mjs');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'slept');
});

test('a pending op keeps the process alive until it completes', async () => {
  const r = await run('pending-keeps-alive.mjs');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'done');
});

test("an unjoined failing fiber follows Node's unhandled-rejection policy: the default (throw) exits non-zero", async () => {
  const r = await run('unhandled.mjs');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /fiber failed on purpose/);
  assert.equal(r.stdout.trim(), '');
});

test('an unjoined failing fiber under --unhandled-rejections=warn: a warning, the process goes on', async () => {
  const r = await run('unhandled.mjs', ['--unhandled-rejections=warn']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /fiber failed on purpose/);
  assert.equal(r.stdout.trim(), 'still running');
});

test("an unjoined failing fiber reaches process.on('unhandledRejection')", async () => {
  const r = await run('unhandled.mjs', [], ['listener']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['unhandledRejection: fiber failed on purpose', 'still running']);
});

test('with m.onUnhandledFiberError set, the handler gets the error and the process goes on (exit 0)', async () => {
  const r = await run('unhandled.mjs', [], ['handler']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['handled: fiber failed on purpose (done: true)', 'still running']);
  assert.doesNotMatch(r.stderr, /fiber failed/);
});

test('a completion caused by another process wakes the machine', async () => {
  const r = await run('other-process-writes.mjs', ['--expose-gc']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'hello from child');
});

test('terminating a worker with ops in flight drains them and does not crash', async () => {
  // Regression: the worker, sole user of the addon, unloaded it at exit while
  // libuv still had to run our poll handle's close callback (SIGSEGV); and
  // teardown must cancel and await in-flight ops before buffers are freed.
  const r = await run('worker-terminate.mjs', ['--expose-gc']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok /);
});

test('timers, node:fs and node:net keep working while machine ops are pending', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const reader = m.spin(async () => {
    const b = Buffer.alloc(8);
    return b.subarray(0, await m.read(r, b)).toString();
  });
  await new Promise((res) => setTimeout(res, 5));
  const text = await fsp.readFile(fileURLToPath(import.meta.url), 'utf8');
  assert.ok(text.length > 0);
  const server = net.createServer((s) => s.pipe(s));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as net.AddressInfo).port;
  const echoed = await new Promise<string>((res, rej) => {
    const c = net.connect(port, '127.0.0.1', () => c.end('echo'));
    let got = '';
    c.on('data', (d) => (got += d));
    c.on('end', () => res(got));
    c.on('error', rej);
  });
  assert.equal(echoed, 'echo');
  await new Promise<void>((res) => server.close(() => res()));
  assert.equal(reader.done, false);
  await m.write(w, 'late');
  assert.equal(await m.join(reader), 'late');
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});
