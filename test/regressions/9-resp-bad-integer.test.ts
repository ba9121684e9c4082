// Found by the stress harness's RESP fuzzer (test/stress/fuzz.test.ts): an
// integer reply of 17 or more characters was parsed with BigInt(), so a
// corrupt one threw a raw SyntaxError instead of RESPProtocolError, and
// BigInt's own syntax was accepted (":0x1fffffffffffffff" as a hex number).
// An empty big number ("(") decoded as 0n.
import assert from 'node:assert/strict';
import { closeSync, writeSync } from 'node:fs';
import { test } from 'node:test';

import { RESPProtocolError, UM } from 'uringmachine';
import { assertNoPendingOps, createMachine } from '../helpers.js';

async function decode(wire: string): Promise<unknown> {
  const m = createMachine();
  const [r, w] = UM.pipe();
  writeSync(w, wire);
  closeSync(w);
  const s = m.stream(r, { mode: 'read' });
  try {
    return await s.respDecode();
  } finally {
    await s.release();
    await m.close(r);
    assertNoPendingOps(m);
  }
}

test('long malformed integers and big numbers reject RESPProtocolError', async () => {
  for (const wire of [':12345678901234567x\r\n', ':0x1fffffffffffffff\r\n', ': 1234567890123456789\r\n', '(\r\n', '(0x10\r\n', '(12a\r\n']) {
    await assert.rejects(decode(wire), (e: unknown) => e instanceof RESPProtocolError && (e as RESPProtocolError & { code: string }).code === 'ERR_RESP_PROTOCOL', JSON.stringify(wire));
  }
});

test('long valid integers and big numbers still decode', async () => {
  assert.equal(await decode(':-12345678901234567890\r\n'), -12345678901234567890n);
  assert.equal(await decode(':+1234567890123456\r\n'), 1234567890123456);
  assert.equal(await decode('(3492890328409238509324850943850943825024385\r\n'), 3492890328409238509324850943850943825024385n);
});
