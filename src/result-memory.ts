/**
 * Memory for the results readFiles hands to its caller (issue 13).
 *
 * A file's contents are fresh memory the caller owns, and the first touch
 * of fresh memory is a page fault per 4 KiB (measured on this VM class:
 * ~1.4 µs each warm, 2.9 µs on a fresh VM; 100 MiB of results is 25,600
 * faults), which cost more than reading the page cache. So results are
 * carved out of 2 MiB chunks that native.hugeBuffer maps aligned and, where
 * that pays, marked MADV_HUGEPAGE (with transparent huge pages on, a chunk
 * faults in as one huge page: 100 MiB touched in ~5 ms instead of ~35 ms;
 * not on a VM whose balloon reports free pages to the host, where a fresh
 * huge page costs the host's faults for all of it). A result larger than a
 * chunk gets a mapping of its own, the same way.
 *
 * Results share their chunk, as Buffer.allocUnsafe's share its 8 KiB pool:
 * one result kept alive keeps its chunk (at most 2 MiB) mapped until V8
 * collects every view of it. The chunk being carved carries over from one
 * call to the next, so many small calls do not map (and fault in) a fresh
 * 2 MiB each. Where no mapping can be had, plain ArrayBuffers are used.
 *
 * A collected buffer's mapping is kept for the next one of its size (up to
 * 256 MiB in all, native/js_helpers.c): memory given back to the kernel and
 * taken again faults again, and on a VM with free page reporting faults on
 * the host too. An unref'd timer unmaps what no call took within two
 * periods (4 s), so an idle process gives the memory back.
 * Internal module (not exported by the package).
 */
import { native } from './native.js';

/** Chunk size: one huge page on x86-64 and arm64 (4 KiB base pages). */
export const CHUNK = 2 * 1024 * 1024;

let chunk: ArrayBuffer | null = null;
let used = 0;

/** Period of the trim timer: pooled memory no call took is unmapped within two. */
const TRIM_MS = 2000;
let trimTimer: ReturnType<typeof setTimeout> | null = null;

function trim(): void {
  trimTimer = null;
  if (native.hugeTrim() !== 0) armTrim();
}

/** Keep trimming while result memory is live or kept (unref'd: never holds the process open). */
function armTrim(): void {
  if (trimTimer !== null) return;
  trimTimer = setTimeout(trim, TRIM_MS);
  trimTimer.unref();
}

/** A mapping of `size` bytes (see native.hugeBuffer), else a plain ArrayBuffer. */
export function hugeArrayBuffer(size: number): ArrayBuffer | null {
  const ab = native.hugeBuffer(size);
  if (ab !== null) armTrim();
  return ab;
}

/**
 * Not marked untransferable (as Buffer.allocUnsafe's pool is): on Node 24
 * markAsUntransferable() on an external ArrayBuffer aborts the process at
 * exit ("v8::FromJust Maybe value is Nothing" in Environment::RunCleanup),
 * and Node 24 refuses to transfer external ArrayBuffers anyway; Node 20
 * transfers them whatever the mark. Results share their chunk, so on Node
 * 20 transferring one result's ArrayBuffer detaches the others carved from
 * it (docs/API.md): structuredClone() or a copy is the way to hand a result
 * to a worker.
 */
function fresh(size: number): ArrayBuffer {
  return hugeArrayBuffer(size) ?? new ArrayBuffer(size);
}

/**
 * A Buffer of n bytes (n >= 0) the caller may keep, uninitialised in the
 * sense of Buffer.allocUnsafe: a reused mapping still holds earlier
 * results' bytes, so the caller (readFiles) fills all of it before it hands
 * it out, and hands out only bytes its own read wrote.
 */
export function resultBuffer(n: number): Buffer {
  if (n > CHUNK) return Buffer.from(fresh(n), 0, n);
  if (chunk === null || used + n > CHUNK) {
    const c = fresh(CHUNK);
    // The new chunk becomes current unless the current one has more room
    // left than the new one will once n is carved (then n has it alone).
    if (chunk !== null && used <= n) return Buffer.from(c, 0, n);
    chunk = c;
    used = 0;
  }
  const b = Buffer.from(chunk, used, n);
  used = (used + n + 7) & ~7;
  return b;
}
