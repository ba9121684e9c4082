/**
 * Host names for tcpConnect / tcpListen / connect, and happy-eyeballs
 * connects (RFC 8305).
 *
 * - Names are resolved with node:dns `lookup` (getaddrinfo on libuv's thread
 *   pool: the event loop never blocks), or a `lookup` function the caller
 *   passes. The wait for the answer is a park of the calling fiber, so a
 *   timeout, terminate or abort interrupts it (the lookup itself finishes on
 *   its thread; its answer is dropped). IP literals and unix paths are not
 *   looked up.
 * - tcpConnect to several addresses races them: the first attempt starts at
 *   once; each next one starts when the one before fails, or 250 ms after
 *   the last start (the RFC's Connection Attempt Delay), whichever is first.
 *   Addresses alternate between the families, starting with the family of
 *   the resolver's first answer (its order follows the system's preference).
 *   The first connect to succeed wins; the others are cancelled (their kernel
 *   connects cancelled) and their sockets closed, also one whose connect
 *   completed in the meantime.
 * - `timeout` cancels everything (lookup wait, attempts, their kernel
 *   connects) after that many ms with a TimeoutError; no fd is left open.
 * Each attempt runs in its own cancellation scope under the caller's, so a
 * cancelled caller cancels all of them.
 * Internal module (not exported by the package).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import { als, type Core } from './core.js';
import { TimeoutError, UMError } from './errors.js';
import { native } from './native.js';
import * as netOps from './net-ops.js';
import type { SockAddr } from './net-ops.js';
import { Scope, Task } from './op.js';
import { argTypeError, rangeError, validateFd, validateFunction, validateInt32, validateMs } from './validate.js';

const C = native.constants;
const AF_INET = C.AF_INET ?? 2;
const AF_INET6 = C.AF_INET6 ?? 10;
const AF_UNIX = C.AF_UNIX ?? 1;
const SOCK_STREAM = C.SOCK_STREAM ?? 1;

/** RFC 8305 section 5: the recommended Connection Attempt Delay. */
export const ATTEMPT_DELAY_MS = 250;

/** One answer of a lookup: an IP literal and its family. */
export interface LookupAddress {
  address: string;
  family: 4 | 6 | number;
}

/** Resolves a host name to its addresses (default: node:dns `lookup(host, { all: true })`). */
export type LookupFunction = (hostname: string) => Promise<readonly LookupAddress[]>;

/** Options of tcpConnect / connect. */
export interface ConnectOptions {
  /** Give up after `timeout` ms (lookup and connect) with a TimeoutError; the kernel connects are cancelled. */
  timeout?: number;
  /** Resolve host names with this instead of node:dns `lookup`. */
  lookup?: LookupFunction;
}

/** Options of tcpListen with a host name. */
export interface ListenOptions {
  /** Resolve host names with this instead of node:dns `lookup`. */
  lookup?: LookupFunction;
}

const defaultLookup: LookupFunction = (host) => dnsLookup(host, { all: true });

interface Validated {
  timeout: number | undefined;
  lookup: LookupFunction;
}

function validateOptions(opts: unknown, withTimeout: boolean): Validated {
  if (opts === undefined) return { timeout: undefined, lookup: defaultLookup };
  if (opts === null || typeof opts !== 'object') throw argTypeError('opts', 'of type object', opts);
  const o = opts as ConnectOptions;
  let timeout: number | undefined;
  if (withTimeout && o.timeout !== undefined && o.timeout !== Infinity) {
    validateMs(o.timeout, 'opts.timeout');
    // Node's timers take at most 2^31 - 1 ms; Infinity is no timeout.
    if (o.timeout < 0 || o.timeout > 0x7fffffff) throw rangeError('opts.timeout', '>= 0 and <= 2147483647, or Infinity', o.timeout);
    timeout = o.timeout;
  }
  if (o.lookup !== undefined) validateFunction(o.lookup, 'opts.lookup');
  return { timeout, lookup: o.lookup ?? defaultLookup };
}

/** True for a host that is looked up: a string that is neither an IP literal nor a unix path. */
function isName(host: unknown): host is string {
  if (typeof host !== 'string') return false;
  if (host.startsWith('/') || host.startsWith('.')) return false;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIP(bare.split('%')[0]!) === 0;
}

function validateName(host: string, port: unknown): void {
  if (host.length === 0 || host.length > 253 || /[\s/]/.test(host)) {
    const e = new TypeError(`Invalid address ${JSON.stringify(host)}: not an IP literal, unix path or host name`) as TypeError & { code: string };
    e.code = 'ERR_INVALID_ADDRESS';
    throw e;
  }
  if (port === undefined) throw argTypeError('port', 'of type number (an IP host needs a port)', port);
  validateInt32(port, 'port', 0, 65535);
}

/** A child scope of the caller's: `cancel(e)` interrupts what runs in it, the caller's cancellation too. */
interface Scoped<T> {
  promise: Promise<T>;
  cancel(error: unknown): void;
}

function scoped<T>(parent: Scope | undefined, fn: () => Promise<T>): Scoped<T> {
  const scope = new Scope(parent?.task ?? new Task(), parent ?? null);
  return {
    promise: als.run(scope, fn),
    cancel(error) {
      if (scope.cancelled) return;
      scope.cancelled = true;
      scope.error = error;
      scope.task.cancelWaits(scope, error);
    },
  };
}

/** Run fn in a child scope cancelled with a TimeoutError after `ms` (none when undefined). */
async function withTimeout<T>(core: Core, ms: number | undefined, what: string, fn: () => Promise<T>): Promise<T> {
  const parent = core.enterScope();
  if (ms === undefined) return fn();
  const s = scoped(parent, fn);
  const timer = setTimeout(() => s.cancel(new TimeoutError(`${what} timed out after ${ms} ms`)), ms);
  try {
    return await s.promise;
  } finally {
    clearTimeout(timer);
  }
}

/** Wait for `p` as a park of the current fiber: a cancellation of its scope interrupts the wait. */
function parked<T>(core: Core, p: Promise<T>): Promise<T> {
  const scope = core.enterScope();
  const w = core.newWait();
  const wait = core.park(w, scope) as Promise<T>;
  p.then(
    (v) => w.wake(v),
    (e: unknown) => w.fail(e),
  );
  return wait;
}

/** The addresses of host, resolved; IP literals and paths as they are. `family`: only that one (AF_*). */
async function resolve(core: Core, host: unknown, port: unknown, lookup: LookupFunction, family?: number): Promise<SockAddr[]> {
  if (!isName(host)) return [netOps.encodeAddress(host, port)];
  const answers = await parked(core, Promise.resolve().then(() => lookup(host)));
  if (!Array.isArray(answers)) throw argTypeError('the lookup result', 'an array of { address, family }', answers);
  const addrs: SockAddr[] = [];
  for (const a of answers as LookupAddress[]) {
    if (a === null || typeof a !== 'object' || typeof a.address !== 'string' || isIP(a.address) === 0) continue;
    const addr = netOps.encodeAddress(a.address, port);
    if (family === undefined || addr.family === family) addrs.push(Object.assign(addr, { literal: a.address }));
  }
  if (addrs.length === 0) {
    const e = new UMError(-113, 'getaddrinfo') as UMError & { hostname?: string };
    e.hostname = host;
    (e as { message: string }).message = `no ${family === AF_INET ? 'IPv4 ' : family === AF_INET6 ? 'IPv6 ' : ''}address for ${host}`;
    throw e;
  }
  return addrs;
}

/** RFC 8305 section 4: alternate the families, the resolver's first family first. */
export function interleave(addrs: readonly SockAddr[]): SockAddr[] {
  if (addrs.length <= 1) return [...addrs];
  const first = addrs[0]!.family;
  const a = addrs.filter((x) => x.family === first);
  const b = addrs.filter((x) => x.family !== first);
  const out: SockAddr[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}

/** Why the losers are cancelled: never seen by the caller. */
class Lost extends Error {}

function allFailed(errors: unknown[], host: unknown, port: unknown): unknown {
  if (errors.length === 1) return errors[0];
  const last = errors[errors.length - 1] as { code?: string; errno?: number; syscall?: string };
  const e = new AggregateError(errors, `connect ${last.code ?? 'failed'}: all ${errors.length} addresses of ${String(host)}:${String(port)} failed`);
  Object.assign(e, { code: last.code, errno: last.errno, syscall: last.syscall });
  return e;
}

/** One attempt: socket + connect; the fd is closed if connect fails or is cancelled. */
async function attempt(core: Core, addr: SockAddr, host: unknown, port: unknown): Promise<number> {
  const fd = await netOps.socket(core, addr.family, SOCK_STREAM, 0, 0);
  try {
    await netOps.connectAddr(core, fd, addr, host, port);
  } catch (e) {
    native.closeSync(fd);
    throw e;
  }
  return fd;
}

/** Happy eyeballs over addrs (in order); resolves the winner's fd. */
function race(core: Core, addrs: readonly SockAddr[], host: unknown, port: unknown, sleep: (ms: number) => Promise<unknown>): Promise<number> {
  const parent = core.enterScope();
  if (addrs.length === 1) return attempt(core, addrs[0]!, host, port);
  return new Promise<number>((resolveFd, reject) => {
    const running = new Set<Scoped<number>>();
    const errors: unknown[] = [];
    let next = 0;
    let done = false;
    let stagger: Scoped<unknown> | null = null;

    const settle = (fn: () => void): void => {
      done = true;
      stagger?.cancel(new Lost());
      for (const a of running) a.cancel(new Lost());
      fn();
    };
    const armStagger = (): void => {
      stagger?.cancel(new Lost());
      stagger = null;
      if (next >= addrs.length) return;
      const s = scoped(parent, () => sleep(ATTEMPT_DELAY_MS));
      stagger = s;
      s.promise.then(
        () => {
          if (stagger === s && !done) start();
        },
        () => {},
      );
    };
    const start = (): void => {
      const addr = addrs[next++]!;
      const a = scoped(parent, () => attempt(core, addr, host, port));
      running.add(a);
      a.promise.then(
        (fd) => {
          running.delete(a);
          // A loser whose connect completed before its cancel: close it.
          if (done) native.closeSync(fd);
          else settle(() => resolveFd(fd));
        },
        (e: unknown) => {
          running.delete(a);
          if (done) return;
          // The caller was cancelled (terminate, timeout, abort): that error, at once.
          if (!(e instanceof UMError)) return settle(() => reject(e));
          errors.push(e);
          if (next < addrs.length) start();
          else if (running.size === 0) settle(() => reject(allFailed(errors, host, port)));
        },
      );
      armStagger();
    };
    start();
  });
}

export function tcpConnect(
  core: Core,
  host: unknown,
  port: unknown,
  opts: unknown,
  sleep: (ms: number) => Promise<unknown>,
): Promise<number> {
  try {
    const o = validateOptions(opts, true);
    if (isName(host)) validateName(host, port);
    else if (netOps.encodeAddress(host, port).family === AF_UNIX) throw argTypeError('host', 'an IPv4 or IPv6 address or a host name (a TCP socket)', host);
    return withTimeout(core, o.timeout, `tcpConnect to ${String(host)}:${String(port)}`, async () => {
      const addrs = interleave(await resolve(core, host, port, o.lookup));
      return race(core, addrs, host, port, sleep);
    });
  } catch (e) {
    return Promise.reject(e);
  }
}

export function connect(core: Core, fd: number, host: unknown, port: unknown, opts: unknown): Promise<void> {
  try {
    validateFd(fd);
    const o = validateOptions(opts, true);
    if (!isName(host)) {
      const addr = netOps.encodeAddress(host, port);
      return withTimeout(core, o.timeout, `connect to ${addr.text}`, () => netOps.connectAddr(core, fd, addr, host, port));
    }
    validateName(host, port);
    const domain = native.socketDomain(fd);
    const family = domain === AF_INET || domain === AF_INET6 ? domain : undefined;
    return withTimeout(core, o.timeout, `connect to ${host}:${String(port)}`, async () => {
      const addrs = await resolve(core, host, port, o.lookup, family);
      return netOps.connectAddr(core, fd, addrs[0]!, host, port);
    });
  } catch (e) {
    return Promise.reject(e);
  }
}

export async function tcpListen(core: Core, host: unknown, port: unknown, backlog: number, opts: unknown): Promise<number> {
  const o = validateOptions(opts, false);
  if (!isName(host)) return netOps.tcpListen(core, host, port, backlog);
  validateName(host, port);
  validateInt32(backlog, 'backlog', 0);
  // As node:net's listen: the first address the name resolves to.
  const first = (await resolve(core, host, port, o.lookup))[0] as SockAddr & { literal: string };
  return netOps.tcpListen(core, first.literal, port, backlog);
}
