// Issue 9, item 4: EMFILE ended acceptEach (and acceptIntoQueue), and the
// example servers exited with it. An accept loop now sleeps on the ring and
// accepts again on EMFILE/ENFILE/ENOBUFS/ENOMEM, and accepts again at once
// after per-connection errors (ECONNABORTED, ...). The servers run as child
// processes under a low RLIMIT_NOFILE (bash's `ulimit -n`).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
/** The fd limit of the servers: node and a machine take about 25 of them, and loading the package opens its modules concurrently (more than 40 once the issue-15 modules were added: EMFILE at import). */
const NOFILE = 64;

interface Child {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
  /** Resolves the first match of re in stdout (rejects if the child exits first). */
  line: (re: RegExp) => Promise<RegExpExecArray>;
}

function run(cmd: string, env: Record<string, string> = {}): Child {
  const child = spawn('bash', ['-c', `ulimit -n ${NOFILE}; exec ${cmd}`], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const line = (re: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(out);
        if (m) resolve(m);
        else waiters.push(check);
      };
      void exited.then((code) => reject(new Error(`exited (${code}) before ${re}: stdout ${out} stderr ${err}`)));
      check();
    });
  return { child, out: () => out, err: () => err, exited, line };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Bytes read from s until `n` have arrived (or s closed). */
function readN(s: Socket, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      if (buf.length >= n) {
        s.off('data', onData);
        resolve(buf);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('close', () => resolve(buf));
  });
}

async function echo(s: Socket, msg: string): Promise<void> {
  const got = readN(s, msg.length);
  s.write(msg);
  assert.equal(await got, msg);
}

async function stop(c: Child): Promise<void> {
  c.child.kill('SIGTERM');
  await c.exited;
  assert.equal(c.err(), '', 'nothing printed on stderr');
}

for (const mode of ['each', 'queue']) {
  const name = mode === 'each' ? 'acceptEach' : 'acceptIntoQueue';
  test(`${name} survives EMFILE: the connection waits in the backlog and is served once fds are free`, async () => {
    const c = run(`"${process.execPath}" "${FIXTURES}emfile-accept.mjs" ${mode}`);
    try {
      const port = Number((await c.line(/exhausted (\d+)/))[1]);
      const first = await open(port);
      const got = readN(first, 4);
      first.write('ping');
      // The loop saw EMFILE and went on (the old code printed "ended EMFILE").
      await c.line(/freeing/);
      assert.equal(await got, 'ping');
      const more = [];
      for (let i = 0; i < 5; i++) {
        const s = await open(port);
        await echo(s, `more ${i}`);
        more.push(s);
      }
      for (const s of [first, ...more]) s.destroy();
      assert.doesNotMatch(c.out(), /ended/);
    } finally {
      await stop(c);
    }
  });
}

test('acceptEach terminated while it backs off after EMFILE ends with no op left behind', async () => {
  const c = run(`"${process.execPath}" "${FIXTURES}emfile-accept.mjs" terminate`);
  try {
    const port = Number((await c.line(/exhausted (\d+)/))[1]);
    const s = await open(port);
    assert.equal((await c.line(/terminated (\d+)/))[1], '0');
    assert.equal(await c.exited, 0);
    s.destroy();
  } finally {
    await stop(c);
  }
});

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

/**
 * CLIENTS connections (more than the server has fds for) are opened and
 * each sends a request before any is closed, so the server runs out of fds
 * with connections still in its backlog; then, one by one, each gets its
 * answer and is closed, which frees an fd for the next.
 */
const CLIENTS = 64;

test('examples/echo-server keeps serving after EMFILE', async () => {
  const c = run(`"${process.execPath}" "${EXAMPLES}echo-server.js"`, { PORT: String(await freePort()) });
  try {
    const port = Number((await c.line(/listening (\d+)/))[1]);
    const socks: Socket[] = [];
    for (let i = 0; i < CLIENTS; i++) socks.push(await open(port));
    const answers = socks.map((s, i) => {
      const msg = `hello ${i} `;
      const got = readN(s, msg.length);
      s.write(msg);
      return got.then((g) => [g, msg]);
    });
    for (let i = 0; i < CLIENTS; i++) {
      const [got, msg] = await answers[i]!;
      assert.equal(got, msg, `client ${i}`);
      socks[i]!.end();
    }
    assert.equal(c.child.exitCode, null, 'still running');
  } finally {
    await stop(c);
  }
});

test('examples/http-server keeps serving after EMFILE', async () => {
  const c = run(`"${process.execPath}" "${EXAMPLES}http-server.js"`, { PORT: String(await freePort()) });
  try {
    const port = Number((await c.line(/listening (\d+)/))[1]);
    const socks: Socket[] = [];
    for (let i = 0; i < CLIENTS; i++) socks.push(await open(port));
    const answers = socks.map((s) => {
      const got = new Promise<string>((resolve, reject) => {
        let buf = '';
        s.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.endsWith('Hello, World!')) resolve(buf);
        });
        s.once('error', reject);
        s.once('close', () => resolve(buf));
      });
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      return got;
    });
    for (let i = 0; i < CLIENTS; i++) {
      assert.match(await answers[i]!, /^HTTP\/1\.1 200 OK\r\n[\s\S]*Hello, World!$/, `client ${i}`);
      socks[i]!.end();
    }
    assert.equal(c.child.exitCode, null, 'still running');
  } finally {
    await stop(c);
  }
});
