/**
 * waitid next to node:child_process. Node reaps the children it spawned
 * itself (libuv's SIGCHLD handler waits for each pid it tracks) and emits
 * 'exit' with the status; a waitid that reaps one of them first steals that
 * exit (Node then never sees the status). So:
 * - P_PID / P_PIDFD of a child Node is tracking: WNOWAIT is added. waitid
 *   reports the status and leaves the child for Node to reap. Node may reap
 *   it first, though: libuv's SIGCHLD handler and the waitid's task work
 *   run on the same thread, and when libuv's comes first the waitid finds
 *   no child (ECHILD) although it was pending at the exit. The child's
 *   ChildProcess has its exitCode / signalCode by then (libuv calls Node's
 *   exit callback in the same function that reaped it), so fs-ops reports
 *   the status from there (exitedStatus).
 * - P_ALL (without WNOWAIT) while Node is tracking children, or P_PGID of a
 *   group that holds one: refused with ERR_UM_WAITID_NODE_CHILD.
 * "Tracking" is read from process._getActiveHandles(): the ChildProcess
 * objects of the children it has not seen exit (unref'd ones too).
 * Internal module (not exported by the package).
 */
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';

import { native } from './native.js';

const C = native.constants;
const P_ALL = C.P_ALL ?? 0;
const P_PID = C.P_PID ?? 1;
const P_PGID = C.P_PGID ?? 2;
const P_PIDFD = C.P_PIDFD ?? 3;
const WNOWAIT = C.WNOWAIT ?? 0x01000000;

/** What waitid needs of a ChildProcess: its pid and, once Node reaped it, how it ended. */
export interface NodeChild {
  readonly pid?: number;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
}

/** The children node:child_process is waiting for, by pid. */
function nodeChildren(): Map<number, NodeChild> {
  const children = new Map<number, NodeChild>();
  const get = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  if (typeof get !== 'function') return children;
  for (const h of get.call(process)) {
    if (h === null || typeof h !== 'object') continue;
    const pid = (h as { pid?: unknown }).pid;
    const name = (h as object).constructor?.name;
    if (name === 'ChildProcess' && typeof pid === 'number') children.set(pid, h as NodeChild);
  }
  return children;
}

/**
 * How a child Node reaped ended, as waitid would have said it (a killed
 * child's si_code is CLD_KILLED: whether it dumped core is not kept by
 * Node), or null if Node has not reaped it.
 */
export function exitedStatus(child: NodeChild): { pid: number; status: number; code: number } | null {
  if (child.exitCode !== null) return { pid: child.pid!, status: child.exitCode, code: C.CLD_EXITED ?? 1 };
  if (child.signalCode !== null) return { pid: child.pid!, status: osConstants.signals[child.signalCode] ?? 0, code: C.CLD_KILLED ?? 2 };
  return null;
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

/**
 * The options to submit (WNOWAIT added for one of Node's children) and that
 * child, if the wait is for one; throws for a wait that could steal one.
 */
export function guardWaitid(idtype: number, id: number, options: number): { options: number; child: NodeChild | null } {
  if (idtype !== P_PID && idtype !== P_PIDFD && idtype !== P_ALL && idtype !== P_PGID) return { options, child: null };
  const children = nodeChildren();
  if (children.size === 0) return { options, child: null };
  if (idtype === P_PID || idtype === P_PIDFD) {
    const child = children.get(idtype === P_PID ? id : pidOfPidfd(id)) ?? null;
    return { options: child !== null ? options | WNOWAIT : options, child };
  }
  if ((options & WNOWAIT) !== 0) return { options, child: null };
  const pids = [...children.keys()];
  if (idtype === P_PGID) {
    // Only a group holding one of Node's children is a problem.
    const group = id === 0 ? pgidOf(process.pid) : id;
    let hit = false;
    for (const pid of pids) if (pgidOf(pid) === group) hit = true;
    if (!hit) return { options, child: null };
  }
  const e = new Error(
    `waitid(${idtype === P_ALL ? 'P_ALL' : 'P_PGID'}) could reap a child of node:child_process (pids ${pids.join(', ')}) ` +
      "and steal its 'exit': wait for a P_PID/P_PIDFD, or pass WNOWAIT",
  ) as Error & { code: string };
  e.code = 'ERR_UM_WAITID_NODE_CHILD';
  throw e;
}
