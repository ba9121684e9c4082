/**
 * bench/lib/net: what bench/scenarios/echo.ts and http.ts share: spawning a
 * server as a child process (protocol: PORT env, `listening <port>` on
 * stdout), reading its CPU time from /proc/<pid>/stat, running a load
 * generator as a child, and killing every child on exit, also on errors and
 * signals. Lives outside bench/scenarios/ so that bench/run.ts does not run it.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const smoke = process.env.BENCH_SMOKE === '1';

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime and stime of a process (all its threads), in seconds. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3 (state).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / CLK_TCK, system: Number(f[12]) / CLK_TCK };
}

/**
 * utime and stime of a process and of its child processes still running
 * (/proc/<pid>/task/<tid>/children, recursively): a node:cluster primary and
 * its workers.
 */
export function treeCpuTimes(pid: number): { user: number; system: number } {
  const t = cpuTimes(pid);
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let kids: string;
    try {
      kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const k of kids ? kids.split(' ') : []) {
      try {
        const c = treeCpuTimes(Number(k));
        t.user += c.user;
        t.system += c.system;
      } catch {
        // the child exited meanwhile
      }
    }
  }
  return t;
}

export type Server = { name: string; proc: ChildProcess; port: number };

export type ServerSpec = { name: string; cmd: string; args: string[]; file: string; env?: Record<string, string> };

/** A contender: a Node script under out/ or a binary in bench/bin/; `file` must exist to run it. */
export function nodeServer(name: string, rel: string, env?: Record<string, string>): ServerSpec {
  const file = root + rel;
  return { name, cmd: process.execPath, args: [file], file, env };
}

export function binServer(name: string, rel: string): ServerSpec {
  const file = root + rel;
  return { name, cmd: file, args: [], file };
}

/** Starts a server and waits (at most 15 s) for its `listening <port>` line. */
export function startServer(spec: ServerSpec): Promise<Server> {
  const proc = spawn(spec.cmd, spec.args, {
    cwd: root,
    env: { ...process.env, ...spec.env, PORT: '0' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${spec.name}: no "listening <port>" within 15 s`)), 15000);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(e);
    };
    proc.on('error', fail);
    proc.on('exit', (code, sig) => fail(new Error(`${spec.name} exited (${code ?? sig}) before listening`)));
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        proc.stdout!.removeAllListeners('data');
        proc.stdout!.resume(); // keep draining whatever it prints later
        resolve({ name: spec.name, proc, port: Number(m[1]) });
      }
    });
  });
}

/** SIGTERM, then SIGKILL if it has not exited within 3 s. */
export async function stopServer(s: Server): Promise<void> {
  const p = s.proc;
  if (p.exitCode === null && p.signalCode === null) {
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
  p.stdin?.destroy();
  children.delete(p);
}

/** Runs a load generator to completion (killed after timeoutMs); resolves with its stdout. */
export function runLoad(cmd: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  const proc = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('error', (e) => {
      clearTimeout(timer);
      children.delete(proc);
      reject(e);
    });
    proc.on('close', (code, sig) => {
      clearTimeout(timer);
      children.delete(proc);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} failed (${code ?? sig}): ${out.trim()}`));
    });
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function exists(spec: ServerSpec): boolean {
  return existsSync(spec.file);
}

export const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The lines of a Markdown table. */
export function table(head: string[], rows: string[][]): string {
  const align = head.map((_, i) => (i === 0 ? '---' : '---:'));
  return [head, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** The load average: the 1-minute figure, or the first `fields` (1, 5, 15 minutes). */
export function loadavg(fields = 1): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, fields).join(' ');
}

function haveWrk(): boolean {
  const r = spawnSync('wrk', ['-v'], { stdio: 'ignore' });
  return !(r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT');
}

/** wrk from the distribution if it is missing (apt output goes to stderr). */
export function ensureWrk(): void {
  if (haveWrk()) return;
  if (process.getuid?.() !== 0) throw new Error('wrk not found: install it (apt-get install wrk)');
  const apt = (args: string[]) => spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (apt(['install', '-y', 'wrk']).status !== 0) {
    apt(['update']);
    apt(['install', '-y', 'wrk']);
  }
  if (!haveWrk()) throw new Error('wrk not found and apt-get install wrk failed');
}
