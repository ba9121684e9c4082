/**
 * Small helpers every op family uses to fill the SQE template and start an
 * op (machine.ts, fs-ops.ts, net-ops.ts, pool-ops.ts): one copy of each.
 * Internal module (not exported by the package).
 */
import type { Core } from './core.js';
import { UnsupportedError } from './errors.js';
import { native } from './native.js';
import { OPCODES, type OpKind } from './op-kinds.js';
import type { Op } from './op.js';

/** The running kernel, major * 100 + minor (uname once, not per op). */
export const KERNEL_VERSION = native.kernelVersion();

export function noop(): void {}

/** An op's map for ops that resolve nothing. */
export function mapVoid(): undefined {
  return undefined;
}

/**
 * MAX_RW_COUNT (INT_MAX & PAGE_MASK, include/linux/fs.h): the most bytes one
 * read, write, send, recv or splice moves; the kernel cuts longer requests
 * to it. SQE len is a u32, so a length of 4 GiB or more would wrap (4 GiB
 * exactly became a zero-length read: a false EOF). Calls that return a count
 * pass their length through rwLength(); calls that cannot be partial reject
 * longer lengths with a RangeError.
 */
export const MAX_RW_COUNT = 0x7ffff000;

/** A transfer length for SQE len: at most MAX_RW_COUNT (the caller sees a short count). */
export function rwLength(n: number): number {
  return n > MAX_RW_COUNT ? MAX_RW_COUNT : n;
}

/** Write a u64 (a safe integer, or -1 for all ones) into template words i, i+1. */
export function setU64(t: Int32Array, i: number, v: number): void {
  if (v < 0) {
    t[i] = -1;
    t[i + 1] = -1;
  } else {
    t[i] = v % 4294967296 | 0;
    t[i + 1] = Math.floor(v / 4294967296) | 0;
  }
}

/** Acquire an op for kind in the current scope (the template is the caller's to fill next). */
export function begin(core: Core, kind: OpKind): Op {
  const scope = core.enterScope();
  return core.acquire(kind, scope);
}

/**
 * UnsupportedError unless the kernel probes kind's opcode and is at least
 * kind's floor. `what` names the feature and its verb ("X needs"); without
 * it the message names the opcode.
 */
export function requireOp(core: Core, kind: OpKind, what?: string): void {
  if (core.probe[kind.opcode] === 1 && KERNEL_VERSION >= kind.floor) return;
  const floor = `${Math.floor(kind.floor / 100)}.${kind.floor % 100}`;
  if (what !== undefined) throw new UnsupportedError(`${what} Linux >= ${floor}`);
  throw new UnsupportedError(`IORING_OP_${opcodeName(kind.opcode)} (${kind.syscall}) is not supported by this kernel; it needs Linux >= ${floor}`);
}

function opcodeName(opcode: number): string {
  return Object.keys(OPCODES).find((k) => OPCODES[k as keyof typeof OPCODES] === opcode) ?? String(opcode);
}
