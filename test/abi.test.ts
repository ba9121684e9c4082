// The kernel ABI as the TS side states it: the opcode table of
// src/op-kinds.ts (from the compiled dist/, which the package does not
// export) against native/uring_abi.h, that header against the system's
// <linux/io_uring.h> and the running kernel's probe, and the struct layouts
// the TS side decodes.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

import { UM } from 'uringmachine';

import { assertNoPendingOps, createMachine } from './helpers.js';

// out/test/abi.test.js -> the repository root is two levels up.
const root = new URL('../../', import.meta.url);

async function opcodes(): Promise<Record<string, number>> {
  const mod = await import(new URL('dist/op-kinds.js', root).href);
  assert.equal(typeof mod.OPCODES, 'object', 'dist/op-kinds.js exports OPCODES');
  return mod.OPCODES as Record<string, number>;
}

function headerOpcodes(): Map<string, number> {
  const header = readFileSync(new URL('native/uring_abi.h', root), 'utf8');
  const m = new Map<string, number>();
  for (const [, name, v] of header.matchAll(/\bUM_OP_([A-Z0-9_]+)\s*=\s*(\d+)\s*,/g)) m.set(name!, Number(v));
  return m;
}

test('OPCODES in src/op-kinds.ts match native/uring_abi.h', async () => {
  const ts = await opcodes();
  const h = headerOpcodes();
  assert.ok(h.size >= 58, `parsed ${h.size} opcodes from the header`);
  assert.ok(Object.keys(ts).length >= 40);
  for (const [name, v] of Object.entries(ts)) {
    assert.ok(h.has(name), `${name} is in the header`);
    assert.equal(v, h.get(name), name);
  }
  // The header numbers the enum densely from 0.
  const values = [...h.entries()].filter(([n]) => n !== 'LAST_KNOWN').map(([, v]) => v).sort((a, b) => a - b);
  assert.deepEqual(values, values.map((_, i) => i));
});

test('native/uring_abi.h agrees with the system <linux/io_uring.h>', { skip: !existsSync('/usr/include/linux/io_uring.h') && 'no kernel headers installed' }, () => {
  const sys = readFileSync('/usr/include/linux/io_uring.h', 'utf8');
  const body = /enum io_uring_op \{([\s\S]*?)\};/.exec(sys);
  assert.ok(body, 'enum io_uring_op found');
  const names = [...body[1]!.matchAll(/\bIORING_OP_([A-Z0-9_]+)\b/g)].map((x) => x[1]!);
  const h = headerOpcodes();
  let checked = 0;
  names.forEach((name, i) => {
    if (name === 'LAST' || !h.has(name)) return;
    assert.equal(h.get(name), i, name);
    checked++;
  });
  assert.ok(checked >= 40, `checked ${checked}`);
});

test('the running kernel supports every opcode the table names', async () => {
  const ts = await opcodes();
  const m = createMachine();
  const kv = UM.kernelVersion();
  for (const [name, v] of Object.entries(ts)) {
    if (kv < 611 && (name === 'BIND' || name === 'LISTEN')) continue;
    assert.equal(m.supports(v), true, `${name} (${v})`);
    assert.equal(m.supports(name as never), true, name);
  }
  assert.equal(m.supports(255), false);
  assertNoPendingOps(m);
});

test('struct layouts the TS side relies on', async () => {
  const { native } = await import(new URL('dist/native.js', root).href);
  const L = native.layout as Record<string, number>;
  assert.equal(L.sqe, 64);
  // struct statx (include/uapi/linux/stat.h): fixed by the kernel ABI.
  const statx: Record<string, number> = {
    statxSize: 256, statx_nlink: 16, statx_uid: 20, statx_gid: 24, statx_mode: 28, statx_ino: 32, statx_size: 40,
    statx_blocks: 48, statx_atime: 64, statx_btime: 80, statx_ctime: 96, statx_mtime: 112,
    statx_rdev_major: 128, statx_rdev_minor: 132, statx_dev_major: 136, statx_dev_minor: 140, statx_blksize: 4,
  };
  for (const [k, v] of Object.entries(statx)) assert.equal(L[k], v, k);
  assert.equal(L.sockaddrIn, 16);
  assert.equal(L.sockaddrIn6, 28);
  assert.equal(L.sockaddrUn, 110);
  assert.equal(L.sockaddrStorage, 128);
  // The SQE template is one SQE of int32 words.
  const m = createMachine();
  assert.equal((m as unknown as { _core: { tmpl: Int32Array } })._core.tmpl.length * 4, L.sqe);
  assertNoPendingOps(m);
});

test('MSG_RING commands: src/msg-ring.ts, native/uring_abi.h and the system header agree', async () => {
  const mod = await import(new URL('dist/msg-ring.js', root).href);
  const header = readFileSync(new URL('native/uring_abi.h', root), 'utf8');
  const def = (name: string): number => {
    const m = new RegExp(`#define UM_${name}\\s+\\(?(\\d+)U?(?:\\s*<<\\s*(\\d+))?`).exec(header);
    assert.ok(m, `UM_${name} in the header`);
    return Number(m[1]) << Number(m[2] ?? 0);
  };
  assert.equal(def('MSG_DATA'), 0);
  assert.equal(def('MSG_SEND_FD'), 1);
  assert.equal(mod.MSG_DATA, def('MSG_DATA'));
  assert.equal(mod.MSG_SEND_FD, def('MSG_SEND_FD'));
  assert.equal(def('MSG_RING_CQE_SKIP'), 1);
  assert.equal(def('MSG_RING_FLAGS_PASS'), 2);
  if (existsSync('/usr/include/linux/io_uring.h')) {
    const sys = readFileSync('/usr/include/linux/io_uring.h', 'utf8');
    // The enum is named in newer headers (io_uring_msg_ring_flags) and
    // unnamed in older ones (Debian's): find it by its first member.
    const body = /enum(?:\s+\w+)?\s*\{([^}]*\bIORING_MSG_DATA\b[^}]*)\}/.exec(sys);
    if (sys.includes('IORING_MSG_DATA')) {
      assert.ok(body, 'the enum holding IORING_MSG_DATA in <linux/io_uring.h>');
      const names = [...body[1]!.matchAll(/\bIORING_(MSG_[A-Z_]+)\b/g)].map((x) => x[1]!);
      assert.deepEqual(names.slice(0, 2), ['MSG_DATA', 'MSG_SEND_FD'], 'enum order gives the values');
    }
    const skip = /#define IORING_MSG_RING_CQE_SKIP\s+\(1U << (\d+)\)/.exec(sys);
    if (skip) assert.equal(1 << Number(skip[1]), def('MSG_RING_CQE_SKIP'));
  }
});
