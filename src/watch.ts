/**
 * `m.watch(path)` (issue 15): inotify(7) events as an async iterator. The
 * inotify fd is made by inotify_init1(IN_NONBLOCK | IN_CLOEXEC) and the watch
 * added by inotify_add_watch(2) (small native helpers: neither blocks);
 * events are read through the ring with IORING_OP_READ (the fd is
 * pollable: a read waits by poll, and is an ordinary op of the fiber, so
 * timeout/terminate/break cancel it). The fd is closed when the loop ends.
 *
 * struct inotify_event (inotify(7)): i32 wd, u32 mask, u32 cookie, u32 len,
 * then len bytes of NUL-padded name.
 * Internal module (not exported by the package).
 */
import type { Core } from './core.js';
import { UMError } from './errors.js';
import { native } from './native.js';
import { encodePath, validateInt32 } from './validate.js';

/** inotify(7) event bits (include/uapi/linux/inotify.h). */
export const IN = Object.freeze({
  ACCESS: 0x1,
  MODIFY: 0x2,
  ATTRIB: 0x4,
  CLOSE_WRITE: 0x8,
  CLOSE_NOWRITE: 0x10,
  OPEN: 0x20,
  MOVED_FROM: 0x40,
  MOVED_TO: 0x80,
  CREATE: 0x100,
  DELETE: 0x200,
  DELETE_SELF: 0x400,
  MOVE_SELF: 0x800,
  Q_OVERFLOW: 0x4000,
  IGNORED: 0x8000,
  ISDIR: 0x40000000,
});

/** The default mask: changes to a file or to a directory's entries. */
const DEFAULT_MASK = IN.MODIFY | IN.CLOSE_WRITE | IN.MOVED_FROM | IN.MOVED_TO | IN.CREATE | IN.DELETE | IN.DELETE_SELF | IN.MOVE_SELF;
/** Room for many events per read (each is 16 bytes + NAME_MAX + 1 at most). */
const READ_SIZE = 16 * 1024;

/** One inotify event. */
export interface WatchEvent {
  /** The entry's name inside a watched directory ('' for the watched path itself). */
  name: string;
  /** IN_* bits (`IN`, exported by the package). */
  mask: number;
  /** Pairs IN_MOVED_FROM with its IN_MOVED_TO. */
  cookie: number;
  /** The entry is a directory (IN_ISDIR). */
  isDir: boolean;
}

type Read = (fd: number, buf: Uint8Array) => Promise<number>;
type Close = (fd: number) => Promise<void>;

/**
 * Validate, then make the inotify fd and the watch synchronously (so bad
 * paths fail at the call, as a rejected first next()).
 */
export function watch(core: Core, path: unknown, mask: unknown, read: Read, close: Close): AsyncGenerator<WatchEvent, void, undefined> {
  const bytes = encodePath(path);
  const m = mask === undefined ? DEFAULT_MASK : mask;
  validateInt32(m, 'mask', 1);
  core.enterScope();
  return events(bytes, m, read, close, typeof path === 'string' ? path : undefined);
}

async function* events(bytes: Buffer, mask: number, read: Read, close: Close, text: string | undefined): AsyncGenerator<WatchEvent, void, undefined> {
  const fd = native.inotifyInit();
  if (fd < 0) throw new UMError(fd, 'inotify_init1');
  try {
    const wd = native.inotifyAddWatch(fd, bytes, mask);
    if (wd < 0) throw new UMError(wd, 'inotify_add_watch', text);
    const buf = Buffer.allocUnsafe(READ_SIZE);
    for (;;) {
      const n = await read(fd, buf);
      let off = 0;
      while (off + 16 <= n) {
        const evMask = buf.readUInt32LE(off + 4);
        const cookie = buf.readUInt32LE(off + 8);
        const len = buf.readUInt32LE(off + 12);
        const end = off + 16 + len;
        const nul = buf.indexOf(0, off + 16);
        const nameEnd = nul >= 0 && nul < end ? nul : end;
        const name = buf.toString('utf8', off + 16, nameEnd);
        off = end;
        // The watch is gone (its path was deleted or unmounted): the end.
        if ((evMask & IN.IGNORED) !== 0) return;
        yield { name, mask: evMask, cookie, isDir: (evMask & IN.ISDIR) !== 0 };
      }
    }
  } finally {
    await close(fd);
  }
}
