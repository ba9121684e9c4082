/**
 * The worker side of `m.spinWorkerActor()` (src/actor.ts): loads the target
 * module, runs setup, then handles the messages of the inbox SharedQueue one
 * at a time on this worker's own machine, answering on the outbox. Ends
 * with `{ stopped }` after a stop message (teardown has run), or `{ fatal }`
 * if the module, the export or setup failed. Then closes its machine, and
 * the worker exits once its event loop is empty.
 * Internal module (not exported by the package).
 */
import v8 from 'node:v8';
import { workerData } from 'node:worker_threads';

import { errorInfo, noHandler, type ActorTarget, type ErrorInfo, type WorkerReply, type WorkerRequest } from './actor.js';
import { UringMachine } from './machine.js';
import { SharedQueue } from './shared.js';
import { invalidArgValue } from './validate.js';

interface Data {
  inbox: { sab: SharedArrayBuffer; off: number };
  outbox: { sab: SharedArrayBuffer; off: number };
  moduleUrl: string;
  exportName: string;
  setupArgs: Uint8Array;
}

const d = workerData as Data;
const m = new UringMachine();
const inbox = SharedQueue.from(d.inbox.sab, d.inbox.off);
const outbox = SharedQueue.from(d.outbox.sab, d.outbox.off);

function reply(r: WorkerReply): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = v8.serialize(r);
  } catch (e) {
    // A result that cannot be cloned rejects the call instead.
    if (!('id' in r)) throw e;
    bytes = v8.serialize({ id: r.id, ok: false, error: errorInfo(e) } satisfies WorkerReply);
  }
  return m.push(outbox, bytes);
}

async function run(): Promise<void> {
  let target: ActorTarget;
  try {
    const mod = (await import(d.moduleUrl)) as Record<string, unknown>;
    const t = mod[d.exportName];
    if (t === null || typeof t !== 'object') {
      throw invalidArgValue('exportName', `names an export of ${d.moduleUrl} that is not an actor target object`, d.exportName);
    }
    target = t as ActorTarget;
    if (typeof target.setup === 'function') await target.setup(...(v8.deserialize(d.setupArgs) as unknown[]));
  } catch (e) {
    await reply({ fatal: errorInfo(e) });
    return;
  }
  for (;;) {
    const msg = v8.deserialize((await m.shift(inbox)) as Buffer) as WorkerRequest;
    if ('stop' in msg) break;
    try {
      const fn = target[msg.name];
      if (typeof fn !== 'function') throw noHandler(msg.name);
      const value = await fn.apply(target, msg.args);
      if (msg.id !== 0) await reply({ id: msg.id, ok: true, value });
    } catch (e) {
      if (msg.id !== 0) await reply({ id: msg.id, ok: false, error: errorInfo(e) });
      else m.onUnhandledFiberError(e, f);
    }
  }
  let error: ErrorInfo | undefined;
  try {
    if (typeof target.teardown === 'function') await target.teardown();
  } catch (e) {
    error = errorInfo(e);
  }
  await reply(error ? { stopped: true, error } : { stopped: true });
}

const f = m.spin(run);
await m.join(f).catch(() => undefined);
// Let the last futex wakes complete, then release the ring.
for (let i = 0; i < 1000 && m.metrics().opsPending > 0; i++) await m.sleep(1);
m.close();
