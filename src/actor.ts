/**
 * Actors (API.md "Actors"): a target object whose methods run one message
 * at a time in a fiber of their own, reached through a mailbox.
 *
 * - `m.spinActor(target, ...setupArgs)`: the mailbox is a local Queue and the
 *   fiber runs on `m`. `call()` creates a reply Queue per call.
 * - `m.spinWorkerActor(moduleUrl, exportName, ...setupArgs)`: the target is
 *   the named export of a module loaded in a worker thread, which runs its
 *   own machine (src/actor-worker.ts). Messages go through two SharedQueues
 *   (inbox, outbox) as v8.serialize() bytes, so arguments and results must be
 *   structured-cloneable. A sender fiber on `m` forwards messages in order;
 *   a receiver fiber routes replies by call id to each call's reply Queue.
 *
 * An error thrown by a handler rejects the caller's call (for a worker
 * actor, an Error rebuilt with the original name/message/stack/code); an
 * error in a cast handler goes to `m.onUnhandledFiberError`. Once the actor
 * has stopped (stop(), setup failure, fiber terminated, worker exit),
 * pending and later calls reject with code ERR_ACTOR_STOPPED.
 *
 * Port of UM's actor (lib/uringmachine/actor.rb: spin_actor, cast, call).
 * Internal module (not exported by the package).
 */
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';

import { Terminate } from './errors.js';
import type { Fiber } from './fiber.js';
import type { UringMachine } from './machine.js';
import { SharedQueue } from './shared.js';
import { Queue } from './sync.js';

/** What an actor's target looks like: optional setup/teardown, and message handlers. */
export interface ActorTarget {
  setup?(...args: any[]): unknown;
  teardown?(): unknown;
  [name: string]: any;
}

type Reply = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Backend {
  send(name: string, args: unknown[], reply: Queue<Reply> | null): void;
  stop(): Promise<void>;
}

function stoppedError(): Error {
  const e = new Error('The actor has stopped') as Error & { code: string };
  e.code = 'ERR_ACTOR_STOPPED';
  return e;
}

/** A message whose name the target has no method for (code ERR_ACTOR_NO_HANDLER). @internal */
export function noHandler(name: string): Error {
  const e = new TypeError(`The actor has no handler "${name}"`) as TypeError & { code: string };
  e.code = 'ERR_ACTOR_NO_HANDLER';
  return e;
}

function validateName(name: unknown): asserts name is string {
  if (typeof name !== 'string') {
    const e = new TypeError(`The "name" argument must be of type string. Received ${typeof name}`) as Error & {
      code: string;
    };
    e.code = 'ERR_INVALID_ARG_TYPE';
    throw e;
  }
}

/**
 * A handle on an actor: `cast` (fire and forget), `call` (resolves with the
 * handler's result), `stop` (teardown runs). Made by `m.spinActor()` or
 * `m.spinWorkerActor()`.
 */
export class Actor {
  readonly #m: UringMachine;
  readonly #b: Backend;
  /** @internal */
  constructor(m: UringMachine, b: Backend) {
    this.#m = m;
    this.#b = b;
  }

  /** Send message `name` with `args`; do not wait for it to be handled. Throws if the actor has stopped. */
  cast(name: string, ...args: unknown[]): void {
    validateName(name);
    this.#b.send(name, args, null);
  }

  /** Send message `name` and resolve with the handler's result (reject with its error). */
  async call<R = unknown>(name: string, ...args: unknown[]): Promise<R> {
    validateName(name);
    const reply = new Queue<Reply>();
    this.#b.send(name, args, reply);
    const r = await this.#m.shift(reply);
    if (r.ok) return r.value as R;
    throw r.error;
  }

  /** Stop after the messages already sent; resolves once teardown has run (rejects with its error). */
  stop(): Promise<void> {
    return this.#b.stop();
  }
}

// ---- Local actors -------------------------------------------------------------

type LocalMsg = { name: string; args: unknown[]; reply: Queue<Reply> | null } | { stop: true };

/** m.spinActor(target, ...setupArgs). @internal */
export function spinActor(m: UringMachine, target: ActorTarget, setupArgs: unknown[]): Actor {
  const mailbox = new Queue<LocalMsg>();
  let stopped = false;
  let fiber: Fiber<void> | null = null;
  const failPending = (): void => {
    stopped = true;
    for (let msg = mailbox.items.shift(); msg !== undefined; msg = mailbox.items.shift()) {
      if ('name' in msg && msg.reply) m.push(msg.reply, { ok: false, error: stoppedError() });
    }
  };
  // The call being handled: answered with ERR_ACTOR_STOPPED if the fiber ends meanwhile.
  let current: Queue<Reply> | null = null;
  fiber = m.spin(async () => {
    try {
      if (typeof target.setup === 'function') await target.setup(...setupArgs);
      for (;;) {
        const msg = await m.shift(mailbox);
        if ('stop' in msg) break;
        current = msg.reply;
        let r: Reply;
        try {
          const fn = target[msg.name];
          if (typeof fn !== 'function') throw noHandler(msg.name);
          r = { ok: true, value: await fn.apply(target, msg.args) };
        } catch (error) {
          // The actor itself was terminated mid-handler: the caller learns it stopped.
          r = { ok: false, error: error instanceof Terminate ? stoppedError() : error };
          if (!msg.reply) m.onUnhandledFiberError(error, fiber as Fiber);
        }
        current = null;
        if (msg.reply) m.push(msg.reply, r);
      }
    } finally {
      if (current !== null) m.push(current as Queue<Reply>, { ok: false, error: stoppedError() });
      failPending();
      if (typeof target.teardown === 'function') await target.teardown();
    }
  });
  const backend: Backend = {
    send(name, args, reply) {
      if (stopped) throw stoppedError();
      m.push(mailbox, { name, args, reply });
    },
    async stop() {
      if (!stopped) {
        stopped = true;
        m.push(mailbox, { stop: true });
      }
      await m.join(fiber!);
    },
  };
  return new Actor(m, backend);
}

// ---- Worker actors ------------------------------------------------------------

/** Wire format between the machine and an actor worker (v8.serialize'd). @internal */
export type WorkerRequest = { id: number; name: string; args: unknown[] } | { stop: true };
/** @internal */
export type WorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: ErrorInfo }
  | { stopped: true; error?: ErrorInfo }
  | { fatal: ErrorInfo };

/** @internal */
export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: unknown;
}

function exitError(code: number): Error {
  const e = new Error(`The actor worker exited with code ${code}`) as Error & { code: string };
  e.code = 'ERR_ACTOR_WORKER_EXITED';
  return e;
}

/** @internal */
export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof Error) {
    return { name: e.name, message: e.message, stack: e.stack, code: (e as { code?: unknown }).code };
  }
  return { name: 'Error', message: String(e) };
}

function rebuild(info: ErrorInfo): Error {
  const e = new Error(info.message) as Error & { code?: unknown };
  e.name = info.name;
  if (info.stack !== undefined) e.stack = info.stack;
  if (info.code !== undefined) e.code = info.code;
  return e;
}

/** Mailbox sizes of a worker actor. */
const QUEUE_OPTS = { capacity: 1024, bytes: 4 * 1024 * 1024 };

/** m.spinWorkerActor(moduleUrl, exportName, ...setupArgs). @internal */
export function spinWorkerActor(m: UringMachine, moduleUrl: string, exportName: string, setupArgs: unknown[]): Actor {
  const inbox = new SharedQueue(QUEUE_OPTS);
  const outbox = new SharedQueue(QUEUE_OPTS);
  const outgoing = new Queue<Uint8Array>();
  const pending = new Map<number, Queue<Reply>>();
  let nextId = 1;
  let stopped = false;
  let fatal: Error | null = null;
  let teardownError: Error | null = null;

  const worker = new Worker(new URL('./actor-worker.js', import.meta.url), {
    workerData: {
      inbox: { sab: inbox.buffer, off: inbox.byteOffset },
      outbox: { sab: outbox.buffer, off: outbox.byteOffset },
      moduleUrl,
      exportName,
      setupArgs: v8.serialize(setupArgs),
    },
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  let workerError: unknown = null;
  worker.once('error', (e) => (workerError = e));
  // A worker that dies without saying so: tell the receiver.
  void exited.then((code) => {
    if (receiver.done) return;
    const info = errorInfo(workerError ?? exitError(code));
    m.push(outbox, v8.serialize({ fatal: info } satisfies WorkerReply)).catch(() => undefined);
  });

  // Forwards messages to the worker in the order they were sent.
  const sender = m.spin(async () => {
    for (;;) {
      await m.push(inbox, await m.shift(outgoing));
    }
  });

  const failAll = (e: Error): void => {
    stopped = true;
    for (const q of pending.values()) m.push(q, { ok: false, error: e });
    pending.clear();
  };

  const receiver = m.spin(async () => {
    for (;;) {
      const r = v8.deserialize((await m.shift(outbox)) as Buffer) as WorkerReply;
      if ('id' in r) {
        const q = pending.get(r.id);
        if (q === undefined) continue;
        pending.delete(r.id);
        m.push(q, r.ok ? { ok: true, value: r.value } : { ok: false, error: rebuild(r.error) });
      } else if ('stopped' in r) {
        if (r.error) teardownError = rebuild(r.error);
        failAll(stoppedError());
        break;
      } else {
        fatal = rebuild(r.fatal);
        failAll(fatal);
        break;
      }
    }
    // The worker reads no more: a sender blocked on a full inbox would wait forever.
    m.terminate(sender);
  });

  const backend: Backend = {
    send(name, args, reply) {
      if (stopped) throw fatal ?? stoppedError();
      const id = reply ? nextId++ : 0;
      const bytes = v8.serialize({ id, name, args } satisfies WorkerRequest);
      if (reply) pending.set(id, reply);
      m.push(outgoing, bytes);
    },
    async stop() {
      if (!stopped) {
        stopped = true;
        m.push(outgoing, v8.serialize({ stop: true } satisfies WorkerRequest));
      }
      await m.join(receiver);
      await m.join(sender);
      await exited;
      if (teardownError) throw teardownError;
    },
  };
  return new Actor(m, backend);
}
