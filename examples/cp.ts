// cp -r over io_uring, zero copy: file data moves file -> pipe -> file with
// IORING_OP_SPLICE and never enters JavaScript memory.
//
//   node out/examples/cp.js SRC DST
//
// Like `cp -r`: a directory is copied recursively (into DST/basename(SRC)
// if DST is an existing directory), file modes are kept, symlinks are copied
// as symlinks. Up to CONCURRENCY files are copied at once, each by its own
// fiber with its own pipe. Directory listing uses fs.readdir (io_uring has
// no getdents op); everything else goes through the ring.
import { chmod, readdir, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { constants as C, UringMachine, UMError } from 'uringmachine';

const CHUNK = 1 << 16; // a pipe's default capacity
const CONCURRENCY = 16;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

async function copyFile(m: UringMachine, src: string, dst: string, mode: number): Promise<number> {
  const [pr, pw] = UringMachine.pipe();
  try {
    return await m.open(src, C.O_RDONLY!, 0, (fin) =>
      m.open(dst, C.O_WRONLY! | C.O_CREAT! | C.O_TRUNC!, mode & 0o7777, async (fout) => {
        let off = 0;
        for (;;) {
          const n = await m.splice(fin, off, pw, -1, CHUNK);
          if (n === 0) return off;
          // Drain the pipe into the destination; a splice may move less.
          let left = n;
          while (left > 0) left -= await m.splice(pr, -1, fout, off + (n - left), left);
          off += n;
        }
      }),
    );
  } finally {
    await m.close(pr);
    await m.close(pw);
  }
}

/** A counting gate: at most `n` holders at once. */
class Gate {
  #free: number;
  #waiters: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiters.push(r));
    try {
      return await fn();
    } finally {
      const next = this.#waiters.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

export async function cp(m: UringMachine, src: string, dst: string): Promise<{ files: number; bytes: number }> {
  const stats = { files: 0, bytes: 0 };
  const gate = new Gate(CONCURRENCY);
  const top = await m.statx(C.AT_FDCWD!, src, C.AT_SYMLINK_NOFOLLOW!);
  if ((top.mode & S_IFMT) === S_IFDIR) {
    const d = await m.statx(C.AT_FDCWD!, dst, 0).catch(() => null);
    if (d !== null && (d.mode & S_IFMT) === S_IFDIR) dst = join(dst, basename(src));
  }

  const copy = async (from: string, to: string, mode: number): Promise<void> => {
    switch (mode & S_IFMT) {
      case S_IFDIR: {
        await m.mkdir(to, 0o700).catch((e: unknown) => {
          if (!(e instanceof UMError && e.code === 'EEXIST')) throw e;
        });
        const names = await readdir(from);
        const entries = await Promise.all(names.map((n) => m.statx(C.AT_FDCWD!, join(from, n), C.AT_SYMLINK_NOFOLLOW!)));
        const fibers = names.map((n, i) => m.spin(() => copy(join(from, n), join(to, n), entries[i]!.mode)));
        await m.join(fibers);
        // The mode last (as cp does, less the umask), so a read-only directory can still be filled.
        await chmod(to, mode & 0o7777 & ~process.umask());
        break;
      }
      case S_IFREG: {
        const n = await gate.run(() => copyFile(m, from, to, mode));
        stats.files++;
        stats.bytes += n;
        break;
      }
      case S_IFLNK:
        await m.symlink(await readlink(from), to);
        break;
      default:
        process.stderr.write(`cp: skipping ${from}: not a regular file, directory or symlink\n`);
    }
  };
  await copy(src, dst, top.mode);
  return stats;
}

async function main(): Promise<void> {
  const [src, dst] = process.argv.slice(2);
  if (src === undefined || dst === undefined) {
    process.stderr.write('usage: node out/examples/cp.js SRC DST\n');
    process.exitCode = 2;
    return;
  }
  const m = new UringMachine();
  try {
    const { files, bytes } = await m.join(m.spin(() => cp(m, src, dst)));
    process.stdout.write(`copied ${files} files, ${bytes} bytes\n`);
  } catch (e) {
    const path = (e as { path?: string }).path;
    const msg = (e as Error).message;
    process.stderr.write(`cp: ${msg}${path !== undefined && !msg.includes(path) ? ` '${path}'` : ''}\n`);
    process.exitCode = 1;
  } finally {
    m.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(basename(process.argv[1]))) await main();
