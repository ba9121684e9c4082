/**
 * waitid next to node:child_process. Node reaps the children it spawned
 * itself (libuv's SIGCHLD handler waits for each pid it tracks) and emits
 * 'exit' with the status; a waitid that reaps one of them first steals that
 * exit (Node then never sees the status). So:
 * - P_PID / P_PIDFD of a child Node is tracking: WNOWAIT is added. waitid
 *   reports the status and leaves the child for Node to reap.
 * - P_ALL (without WNOWAIT) while Node is tracking children, or P_PGID of a
 *   group that holds one: refused with ERR_UM_WAITID_NODE_CHILD.
 * "Tracking" is read from process._getActiveHandles(): the ChildProcess
 * objects of the children it has not seen exit (unref'd ones too).
 * Internal module (not exported by the package).
 */
import { readFileSync } from 'node:fs';

import { native } from './native.js';

const C = native.constants;
const P_ALL = C.P_ALL ?? 0;
const P_PID = C.P_PID ?? 1;
const P_PGID = C.P_PGID ?? 2;
const P_PIDFD = C.P_PIDFD ?? 3;
const WNOWAIT = C.WNOWAIT ?? 0x01000000;

/** Pids of the children node:child_process is waiting for. */
function nodeChildPids(): Set<number> {
  const pids = new Set<number>();
  const get = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  if (typeof get !== 'function') return pids;
  for (const h of get.call(process)) {
    if (h === null || typeof h !== 'object') continue;
    const pid = (h as { pid?: unknown }).pid;
    const name = (h as object).constructor?.name;
    if (name === 'ChildProcess' && typeof pid === 'number') pids.add(pid);
  }
  return pids;
}

/** The pid a pidfd refers to (/proc/self/fdinfo "Pid:"), or -1. */
function pidOfPidfd(fd: number): number {
  try {
    const m = /^Pid:\s*(-?\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

/** The process group of pid (/proc/<pid>/stat), or -1. */
function pgidOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return -1;
  }
}

/** The options to submit: WNOWAIT added for one of Node's children; throws for a wait that could steal one. */
export function guardWaitid(idtype: number, id: number, options: number): number {
  if ((options & WNOWAIT) !== 0) return options;
  if (idtype !== P_PID && idtype !== P_PIDFD && idtype !== P_ALL && idtype !== P_PGID) return options;
  const pids = nodeChildPids();
  if (pids.size === 0) return options;
  if (idtype === P_PID) return pids.has(id) ? options | WNOWAIT : options;
  if (idtype === P_PIDFD) return pids.has(pidOfPidfd(id)) ? options | WNOWAIT : options;
  if (idtype === P_PGID) {
    // Only a group holding one of Node's children is a problem.
    const group = id === 0 ? pgidOf(process.pid) : id;
    let hit = false;
    for (const pid of pids) if (pgidOf(pid) === group) hit = true;
    if (!hit) return options;
  }
  const e = new Error(
    `waitid(${idtype === P_ALL ? 'P_ALL' : 'P_PGID'}) could reap a child of node:child_process (pids ${[...pids].join(', ')}) ` +
      "and steal its 'exit': wait for a P_PID/P_PIDFD, or pass WNOWAIT",
  ) as Error & { code: string };
  e.code = 'ERR_UM_WAITID_NODE_CHILD';
  throw e;
}
