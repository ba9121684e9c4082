// Fault injection (docs/STRESS.md, part 3): io_uring syscalls denied by a
// seccomp filter (test/fixtures/seccomp-deny.c), EMFILE through a low
// RLIMIT_NOFILE (bash's ulimit -n), ENOSPC on a 1 MiB tmpfs, and a chaos TCP
// peer (resets with SO_LINGER 0, stalls, half-closes, trickles byte by byte)
// against examples/echo-server and examples/http-server run as children,
// which must keep serving well-behaved clients and never crash.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { constants as C, MachineClosedError, UMError } from 'uringmachine';
import { createMachine, seccompDeny } from '../helpers.js';
import { printTally, rngFor, scaled, tally, watchdog, type Rng } from './common.js';

const T0 = Date.now();
after(() => printTally('fault', T0));

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/stress-fault.mjs', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

interface Report {
  [k: string]: unknown;
}

/** Run the fault fixture (under `prefix`, e.g. the seccomp wrapper), parse its JSON line. */
function runFixture(prefix: string[], mode: string, shell?: string): Report {
  const r = shell
    ? spawnSync('bash', ['-c', `${shell}; exec "${process.execPath}" "${FIXTURE}" ${mode}`], { encoding: 'utf8', timeout: 60_000 })
    : spawnSync(prefix[0]!, [...prefix.slice(1), process.execPath, FIXTURE, mode], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, `fixture killed by ${r.signal} (a hang?): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let rep: Report;
  try {
    rep = JSON.parse(line) as Report;
  } catch {
    assert.fail(`no report (exit ${r.status}): stdout ${r.stdout} stderr ${r.stderr}`);
  }
  assert.notEqual(rep.hang, true, `the fixture hung: ${line}`);
  return rep;
}

interface ErrInfo {
  name: string;
  code?: string;
  syscall?: string;
  message: string;
}

test('seccomp: io_uring_setup denied -> new UringMachine() throws a UMError naming io_uring_setup', () => {
  const rep = runFixture([seccompDeny(), 'setup', '--'], 'construct');
  const e = rep.error as ErrInfo;
  assert.ok(e, `constructed: ${JSON.stringify(rep)}`);
  assert.equal(e.name, 'UMError');
  assert.equal(e.syscall, 'io_uring_setup');
});

test('seccomp: io_uring_register denied -> UMError naming io_uring_register and seccomp', () => {
  const rep = runFixture([seccompDeny(), 'register', '--'], 'construct');
  const e = rep.error as ErrInfo;
  assert.ok(e, `constructed: ${JSON.stringify(rep)}`);
  assert.equal(e.name, 'UMError');
  assert.equal(e.syscall, 'io_uring_register');
  assert.match(e.message, /seccomp/i);
});

test('seccomp: io_uring_enter denied -> new UringMachine() throws a UMError naming io_uring_enter', () => {
  const rep = runFixture([seccompDeny(), 'enter', '--'], 'construct');
  const e = rep.error as ErrInfo;
  assert.ok(e, `constructed: ${JSON.stringify(rep)}`);
  assert.equal(e.name, 'UMError');
  assert.equal(e.syscall, 'io_uring_enter');
});

test('seccomp: submissions denied -> every op rejects UMError EPERM io_uring_enter, nothing hangs', () => {
  const rep = runFixture([seccompDeny(), 'enter-submit', '--'], 'ops');
  const results = rep.results as { op: string; ok?: boolean; error?: ErrInfo }[];
  assert.ok(Array.isArray(results), JSON.stringify(rep));
  for (const r of results) {
    assert.ok(r.error, `${r.op} resolved: ${JSON.stringify(r)}`);
    assert.equal(r.error.name, 'UMError', `${r.op}: ${JSON.stringify(r.error)}`);
    assert.equal(r.error.code, 'EPERM', `${r.op}: ${JSON.stringify(r.error)}`);
    assert.equal(r.error.syscall, 'io_uring_enter', `${r.op}: ${JSON.stringify(r.error)}`);
  }
});

test('the fixture works without a fault (control: the seccomp tests mean something)', () => {
  const rep = runFixture([seccompDeny(), 'register=255', '--'], 'ops');
  for (const r of rep.results as { op: string; ok?: boolean; error?: ErrInfo }[]) {
    if (r.op === 'timeout') assert.equal(r.error?.name, 'TimeoutError');
    else assert.ok(r.ok, `${r.op}: ${JSON.stringify(r)}`);
  }
});

test('EMFILE (ulimit -n 64): open/socket/accept bursts reject UMError EMFILE, nothing hangs or leaks, the machine recovers', () => {
  const rep = runFixture([], 'emfile', 'ulimit -n 64');
  const open = rep.open as Record<string, number>;
  const socket = rep.socket as Record<string, number>;
  assert.ok((open.EMFILE ?? 0) > 0 && (open.ok ?? 0) > 0, `open: ${JSON.stringify(open)}`);
  assert.deepEqual(Object.keys(open).sort(), ['EMFILE', 'ok'], `open: ${JSON.stringify(open)}`);
  assert.deepEqual(rep.openErrors, ['UMError EMFILE']);
  assert.ok((socket.EMFILE ?? 0) > 0, `socket: ${JSON.stringify(socket)}`);
  assert.deepEqual(Object.keys(socket).sort(), ['EMFILE', 'ok']);
  const accept = rep.accept as Record<string, number>;
  for (const k of Object.keys(accept)) assert.ok(['ok', 'EMFILE', 'TimeoutError'].includes(k), `accept: ${JSON.stringify(accept)}`);
  assert.equal(rep.recovered, true);
  assert.equal(rep.opsPending, 0);
  assert.equal(rep.leaked, 0, 'fds leaked');
});

test('ENOSPC on a 1 MiB tmpfs: write and writeAsync report ENOSPC, nothing hangs, the machine goes on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'um-enospc-'));
  let mounted = false;
  t.after(() => {
    if (mounted) execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    t.skip(`mount -t tmpfs not permitted here (${String((e as Error).message).split('\n')[0]}): ENOSPC not tested`);
    return;
  }
  mounted = true;
  const m = createMachine();
  t.after(() => m.close());
  await watchdog(m, 20_000, 'ENOSPC', async () => {
    const fd = await m.open(join(dir, 'big'), C.O_CREAT! | C.O_WRONLY!, 0o644);
    const chunk = Buffer.alloc(64 * 1024, 1);
    let err: unknown;
    let written = 0;
    for (let i = 0; i < 100; i++) {
      try {
        written += await m.write(fd, chunk);
      } catch (e) {
        err = e;
        break;
      }
    }
    assert.ok(err instanceof UMError && err.code === 'ENOSPC', `after ${written} bytes: ${String(err)}`);
    assert.ok(written <= 1 << 20);
    // writeAsync: the failure goes to onWriteAsyncError with the dropped count.
    const fd2 = await m.open(join(dir, 'async'), C.O_CREAT! | C.O_WRONLY!, 0o644);
    const reported: [string, number][] = [];
    m.onWriteAsyncError = (e, _fd, dropped) => reported.push([(e as UMError).code, dropped]);
    for (let i = 0; i < 8; i++) m.writeAsync(fd2, chunk);
    await m.close(fd2);
    assert.equal(reported.length, 1, JSON.stringify(reported));
    assert.equal(reported[0]![0], 'ENOSPC');
    await m.close(fd);
    // Space freed: writes work again.
    await m.unlink(join(dir, 'big'));
    const fd3 = await m.open(join(dir, 'small'), C.O_CREAT! | C.O_WRONLY!, 0o644);
    assert.equal(await m.write(fd3, 'ok'), 2);
    await m.close(fd3);
  });
  assert.equal(m.metrics().opsPending, 0);
});

test('calls after m.close() reject MachineClosedError (ERR_UM_CLOSED), none hangs', async () => {
  const { Queue, Mutex } = await import('uringmachine');
  const m = createMachine();
  const q = new Queue<number>();
  const mu = new Mutex();
  m.close();
  const calls: [string, () => Promise<unknown>][] = [
    ['sleep', () => m.sleep(1)],
    ['snooze', () => m.snooze()],
    ['shift', () => m.shift(q)],
    ['pop', () => m.pop(q)],
    ['synchronize', () => m.synchronize(mu, async () => 1)],
    ['select', () => m.select([q])],
    ['read', () => m.read(0, Buffer.alloc(1))],
    ['open', () => m.open('/dev/null')],
  ];
  for (const [name, call] of calls) {
    const p = Promise.resolve().then(call);
    const r = await Promise.race([p.then(() => 'resolved', (e: unknown) => e), new Promise((res) => setTimeout(() => res('hang'), 5000))]);
    assert.ok(r instanceof MachineClosedError, `${name}: ${String(r)}`);
    assert.equal((r as MachineClosedError & { code?: string }).code, 'ERR_UM_CLOSED', name);
  }
});

// ---- The chaos peer ----------------------------------------------------------

interface Child {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startExample(name: string): Promise<[Child, number]> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(EXAMPLES, `${name}.js`)], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const c = { child, out: () => out, err: () => err, exited };
  for (let i = 0; i < 500 && !/listening/.test(out); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.match(out, /listening/, `${name} did not start: ${err}`);
  return [c, port];
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One misbehaving client: reset, stall, half-close or trickle. */
async function chaosClient(rng: Rng, port: number, payload: () => Buffer): Promise<void> {
  const s = await open(port);
  s.on('error', () => undefined);
  const data = payload();
  const kind = rng.int(5);
  if (kind === 0) {
    // Send part, then reset (SO_LINGER 0: RST instead of FIN).
    s.write(data.subarray(0, rng.int(data.length + 1)));
    await sleep(rng.int(5));
    s.resetAndDestroy();
  } else if (kind === 1) {
    // Stall: send part and go silent, never read; closed at the end of the test.
    s.write(data.subarray(0, rng.int(data.length)));
    stalled.push(s);
  } else if (kind === 2) {
    // Half-close after the data; read whatever comes back.
    s.end(data);
    s.resume();
  } else if (kind === 3) {
    // Trickle byte by byte, then close.
    s.resume();
    for (let i = 0; i < Math.min(data.length, 60); i++) {
      s.write(data.subarray(i, i + 1));
      await sleep(rng.int(2));
    }
    s.destroy();
  } else {
    // Garbage at full speed, then reset.
    s.write(Buffer.from(Array.from({ length: rng.range(1, 20_000) }, () => rng.int(256))));
    await sleep(rng.int(3));
    s.resetAndDestroy();
  }
}
const stalled: Socket[] = [];

/** A well-behaved round trip: write msg, read until `expect` is complete. */
async function goodRoundTrip(port: number, msg: Buffer, done: (got: string) => boolean): Promise<string> {
  const s = await open(port);
  try {
    return await new Promise<string>((resolve, reject) => {
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (done(got)) resolve(got);
      });
      s.once('error', reject);
      s.once('close', () => resolve(got));
      s.write(msg);
    });
  } finally {
    s.destroy();
  }
}

for (const example of ['echo-server', 'http-server'] as const) {
  test(`chaos peer vs examples/${example}: resets, stalls, half-closes, trickles; good clients still served, no crash`, async () => {
    const rng = rngFor(`chaos ${example}`);
    const [c, port] = await startExample(example);
    try {
      const rounds = scaled(10);
      for (let r = 0; r < rounds; r++) {
        const chaos = [];
        for (let i = 0; i < 20; i++) {
          chaos.push(
            chaosClient(rng, port, () =>
              example === 'http-server'
                ? Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(rng.range(1, 5)))
                : Buffer.from(`chaos ${r} ${i} `.repeat(rng.range(1, 2000))),
            ),
          );
        }
        const good = [];
        for (let i = 0; i < 5; i++) {
          if (example === 'http-server') {
            const k = rng.range(1, 4);
            good.push(
              goodRoundTrip(port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(k)), (g) => g.split('Hello, World!').length > k).then((g) =>
                assert.equal(g.split('HTTP/1.1 200 OK').length - 1, k, `http round ${r}: ${g}`),
              ),
            );
          } else {
            const msg = Buffer.from(`good ${r} ${i} `.repeat(rng.range(1, 5000)));
            good.push(goodRoundTrip(port, msg, (g) => g.length >= msg.length).then((g) => assert.equal(g, msg.toString('latin1'))));
          }
        }
        await Promise.all([...chaos, ...good]);
        tally.ops += 25;
        assert.equal(c.child.exitCode, null, `${example} exited: ${c.err()}`);
      }
    } finally {
      for (const s of stalled.splice(0)) s.destroy();
      c.child.kill('SIGTERM');
      const code = await c.exited;
      assert.equal(c.err(), '', `${example} printed on stderr`);
      assert.equal(code, 0, `${example} exit code`);
    }
  });
}
