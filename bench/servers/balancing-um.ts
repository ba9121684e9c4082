/**
 * bench/servers/balancing-um: the uringmachine server of
 * bench/scenarios/balancing.ts: an echo server (multishot accept, a fiber per
 * connection with a multishot recv and send) on a machine that also runs
 * WORKERS fibers, each looping over a CPU burst (balancing-common.ts) and
 * `await m.snooze()`: the runqueue never empties. MAX_SWITCHES is the
 * machine's maxSwitches option as JSON (a number, "adaptive" or an object).
 * Listens on 127.0.0.1:$PORT, prints `listening <port>`, answers `stats`.
 */
import { createServer } from 'node:net';

import { constants, UringMachine, type MaxSwitchesOption } from 'uringmachine';

import { burster, connected, statsProtocol, whenConnected, WORKERS } from './balancing-common.js';

const maxSwitches = process.env.MAX_SWITCHES ? (JSON.parse(process.env.MAX_SWITCHES) as MaxSwitchesOption) : undefined;
const m = new UringMachine(maxSwitches === undefined ? {} : { maxSwitches });

async function serve(conn: number): Promise<void> {
  try {
    await m.setsockopt(conn, constants.IPPROTO_TCP!, constants.TCP_NODELAY!, 1);
    for await (const chunk of m.recvEach(conn)) {
      let off = 0;
      while (off < chunk.length) off += await m.send(conn, off === 0 ? chunk : chunk.subarray(off));
    }
  } catch {
    // the peer went away
  } finally {
    m.closeAsync(conn);
  }
}

/** A free port, asked of the kernel through node:net (PORT=0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

let port = Number(process.env.PORT ?? 0);
if (port === 0) port = await freePort();
const listener = await m.tcpListen('127.0.0.1', port, 4096);
m.spin(async () => {
  for await (const conn of m.acceptEach(listener)) {
    connected();
    m.spin(() => serve(conn));
  }
});
whenConnected(() => {
  for (let i = 0; i < WORKERS; i++) {
    const burst = burster(i);
    m.spin(async () => {
      for (;;) {
        burst();
        await m.snooze();
      }
    });
  }
});
statsProtocol(() => {
  const x = m.metrics();
  return { turns: x.totalTurns, switches: x.totalSwitches, limit: x.switchLimit };
});
process.stdout.write(`listening ${port}\n`);
