// The server loop the network examples share (examples/echo-server.ts,
// examples/http-server.ts): one machine on the main thread, or, with
// WORKERS=N, one machine per worker thread (node:worker_threads), so a
// server can use more than one core. Two ways to spread connections:
//
//   WORKER_MODE=reuseport (the default): every worker accepts on its own
//     listening socket; the N sockets share one port with SO_REUSEPORT, and
//     the kernel picks the socket (a hash of the connection's addresses and
//     ports) for each new connection.
//   WORKER_MODE=queue: the main thread's machine is the only acceptor; it
//     hands each accepted fd to the next worker in turn (round robin) over
//     that worker's SharedQueue (futex wait/wake on the ring: a waiting
//     worker blocks neither its thread nor its event loop). A descriptor
//     number is valid in every thread of the process, so the fd itself is
//     the message (its decimal string).
//
// Every worker runs the example's own module (the Worker starts
// `moduleUrl`), so the per-connection code is the same function in every
// mode. On SIGINT/SIGTERM the accepting stops first (reuseport: each worker
// terminates its accept loop and closes its listener; queue: the acceptor
// fiber is terminated, the listener closed, and a "stop" item is queued
// behind the fds already handed over, so none is left in a queue), then each
// worker terminates its connections' fibers, whose finally blocks close
// their sockets, closes its machine and reports how many connections it
// served (printed as `worker <i> served <n> connections`); the main thread
// closes its machine once every worker has exited.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import { constants, SharedQueue, type UringMachine, UringMachine as Machine } from 'uringmachine';

/** Serves one accepted connection; must close `conn` however it ends. */
export type ConnectionHandler = (m: UringMachine, conn: number) => Promise<void>;

export type WorkerMode = 'reuseport' | 'queue';

export interface ServerOptions {
  host: string;
  /** 0: the kernel picks a free port (printed in `listening <port>`). */
  port: number;
  backlog: number;
  /** 0: one machine on the main thread; N >= 1: N worker threads. */
  workers: number;
  mode: WorkerMode;
}

interface WorkerData {
  umServer: { index: number; listener?: number; queue?: { sab: SharedArrayBuffer; off: number } };
}

type FromWorker = { ready: true } | { served: number };

/** The options from the environment: HOST, PORT, WORKERS, WORKER_MODE. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): ServerOptions {
  const workers = Number(env.WORKERS ?? 0);
  if (!Number.isInteger(workers) || workers < 0 || workers > 256) {
    throw new RangeError(`WORKERS must be an integer in [0, 256], got ${env.WORKERS}`);
  }
  const mode = env.WORKER_MODE ?? 'reuseport';
  if (mode !== 'reuseport' && mode !== 'queue') throw new RangeError(`WORKER_MODE must be reuseport or queue, got ${mode}`);
  return { host: env.HOST ?? '127.0.0.1', port: Number(env.PORT ?? 1234), backlog: 1024, workers, mode };
}

/**
 * Runs the server: in the main thread with the options from the
 * environment, in a worker thread started by it as that worker.
 * `moduleUrl` is the caller's `import.meta.url` (the module each worker runs).
 */
export function run(moduleUrl: string, handle: ConnectionHandler): void {
  const role = isMainThread ? undefined : (workerData as WorkerData | undefined)?.umServer;
  const main = role ? runWorker(role, handle) : runMain(moduleUrl, handle, optionsFromEnv());
  main.catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

/** Resolves at the first SIGINT or SIGTERM. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const once = () => {
      process.off('SIGINT', once);
      process.off('SIGTERM', once);
      resolve();
    };
    process.on('SIGINT', once);
    process.on('SIGTERM', once);
  });
}

/** Terminates every fiber still running on m (its connections) and waits for them. */
async function stopConnections(m: UringMachine): Promise<void> {
  const open = [...m.fibers];
  for (const f of open) m.terminate(f);
  await m.join(open);
}

async function runMain(moduleUrl: string, handle: ConnectionHandler, o: ServerOptions): Promise<void> {
  const m = new Machine();
  if (o.workers === 0) return runSingle(m, handle, o);
  const stopping = stopSignal();
  const listeners: number[] = [];
  let port = o.port;
  if (o.mode === 'reuseport') {
    // One socket per worker, all bound to one port: the first bind picks it
    // when PORT=0, the others join its SO_REUSEPORT group.
    const family = o.host.includes(':') ? constants.AF_INET6! : constants.AF_INET!;
    for (let i = 0; i < o.workers; i++) {
      const fd = await m.socket(family, constants.SOCK_STREAM!);
      listeners.push(fd);
      await m.setsockopt(fd, constants.SOL_SOCKET!, constants.SO_REUSEADDR!, 1);
      await m.setsockopt(fd, constants.SOL_SOCKET!, constants.SO_REUSEPORT!, 1);
      await m.bind(fd, o.host, port);
      await m.listen(fd, o.backlog);
      port = m.getsockname(fd).port;
    }
  } else {
    listeners.push(await m.tcpListen(o.host, port, o.backlog));
    port = m.getsockname(listeners[0]!).port;
  }
  const queues = o.mode === 'queue' ? Array.from({ length: o.workers }, () => new SharedQueue({ capacity: 1024, bytes: 32 * 1024 })) : [];
  const served: number[] = new Array<number>(o.workers).fill(0);
  let failed: unknown;
  const workers: { w: Worker; ready: Promise<void>; exited: Promise<void>; gone: boolean; finished: boolean }[] = [];
  for (let index = 0; index < o.workers; index++) {
    const umServer: WorkerData['umServer'] =
      o.mode === 'reuseport'
        ? { index, listener: listeners[index]! }
        : { index, queue: { sab: queues[index]!.buffer, off: queues[index]!.byteOffset } };
    const w = new Worker(new URL(moduleUrl), { workerData: { umServer } satisfies WorkerData });
    const ready = new Promise<void>((resolve, reject) => {
      w.on('message', (msg: FromWorker) => {
        if ('ready' in msg) resolve();
        else {
          served[index] = msg.served;
          workers[index]!.finished = true;
        }
      });
      w.once('error', (e) => {
        failed ??= e;
        reject(e);
      });
    });
    const state = { w, ready, exited: Promise.resolve(), gone: false, finished: false };
    state.exited = new Promise<void>((resolve) =>
      w.once('exit', (code) => {
        if (code !== 0) failed ??= new Error(`worker ${index} exited with code ${code}`);
        state.gone = true;
        resolve();
      }),
    );
    workers.push(state);
  }
  let acceptor: ReturnType<UringMachine['spin']> | undefined;
  let acceptorEnded: Promise<void> | undefined;
  try {
    await Promise.all(workers.map((w) => w.ready));
    if (o.mode === 'queue') {
      const listener = listeners[0]!;
      acceptor = m.spin(async () => {
        let next = 0;
        for await (const conn of m.acceptEach(listener)) {
          const q = queues[next]!;
          next = (next + 1) % queues.length;
          try {
            await m.push(q, String(conn)); // waits only while that worker has 1,024 fds not yet taken
          } catch (e) {
            m.closeAsync(conn); // terminated while waiting: the fd never reached a worker
            throw e;
          }
        }
      });
      // An accept that fails (EMFILE, ...) ends the loop: stop the server with its error.
      acceptorEnded = m.join(acceptor).then(
        () => {},
        (e: unknown) => {
          failed ??= e;
        },
      );
    }
    console.log(`listening ${port} (${o.workers} worker${o.workers > 1 ? 's' : ''}, ${o.mode})`);
    // A worker that dies stops the server as a signal would.
    await Promise.race([stopping, ...workers.map((w) => w.exited), ...(acceptorEnded ? [acceptorEnded] : [])]);
  } finally {
    if (acceptor) {
      m.terminate(acceptor);
      await acceptorEnded;
    }
    if (o.mode === 'queue') {
      await m.close(listeners[0]!);
      // Behind every fd already queued: the worker serves (and then stops)
      // those before it sees this. A worker that died takes nothing: its
      // queue is emptied here instead.
      for (let i = 0; i < queues.length; i++) {
        if (workers[i]?.gone) await drain(m, queues[i]!);
        else await m.push(queues[i]!, 'stop');
      }
    } else {
      for (const { w } of workers) w.postMessage('stop');
    }
    await Promise.all(workers.map((w) => w.exited));
    // The fds queued for a worker that failed after the stop was queued.
    // (Its listener, in reuseport mode, is not closed here: it may have
    // closed it already, and a second close could hit a reused number; the
    // process exits 1 right after.)
    if (o.mode === 'queue') for (let i = 0; i < workers.length; i++) if (!workers[i]!.finished) await drain(m, queues[i]!);
    m.close();
  }
  served.forEach((n, i) => console.log(`worker ${i} served ${n} connections`));
  if (failed !== undefined) throw failed;
}

/** Closes the fds left in a queue no worker takes from any more. */
async function drain(m: UringMachine, q: SharedQueue): Promise<void> {
  while (q.count > 0) {
    const item = await m.shift(q);
    if (item !== 'stop') await m.close(Number(item));
  }
}

/** WORKERS=0: one machine, one accept loop, on the main thread. */
async function runSingle(m: UringMachine, handle: ConnectionHandler, o: ServerOptions): Promise<void> {
  const listener = await m.tcpListen(o.host, o.port, o.backlog);
  const port = m.getsockname(listener).port; // the kernel's pick for PORT=0
  const acceptor = m.spin(async () => {
    for await (const conn of m.acceptEach(listener)) m.spin(() => handle(m, conn));
  });
  const stop = () => m.terminate(acceptor);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(`listening ${port}`);
  await m.join(acceptor);
  // Stop the connections still open: each fiber's pending op is cancelled
  // and its finally block closes its socket.
  await stopConnections(m);
  await m.close(listener);
  m.close();
}

/** One worker thread: its own machine, serving the fds of its listener or its queue. */
async function runWorker(role: WorkerData['umServer'], handle: ConnectionHandler): Promise<void> {
  const port = parentPort!;
  const m = new Machine();
  let served = 0;
  let taker: ReturnType<UringMachine['spin']>;
  let onStop: ((msg: unknown) => void) | undefined;
  if (role.listener !== undefined) {
    const listener = role.listener;
    taker = m.spin(async () => {
      for await (const conn of m.acceptEach(listener)) {
        served++;
        m.spin(() => handle(m, conn));
      }
    });
    onStop = (msg: unknown) => {
      if (msg === 'stop') m.terminate(taker);
    };
    port.on('message', onStop);
  } else {
    const q = SharedQueue.from(role.queue!.sab, role.queue!.off);
    taker = m.spin(async () => {
      for (;;) {
        const item = await m.shift(q);
        if (item === 'stop') break;
        const conn = Number(item);
        served++;
        m.spin(() => handle(m, conn));
      }
    });
  }
  port.postMessage({ ready: true } satisfies FromWorker);
  await m.join(taker);
  await stopConnections(m);
  if (role.listener !== undefined) await m.close(role.listener);
  m.close();
  port.postMessage({ served } satisfies FromWorker);
  // With no 'message' listener left the port no longer keeps this thread's
  // event loop alive (removeAllListeners would not unref it): the thread exits.
  if (onStop) port.off('message', onStop);
}
