/**
 * bench/servers/net-echo: the node:net echo server of bench/scenarios/echo.ts.
 * Writes back every chunk as it arrives (no pipe(): the same one write per read
 * as the other contenders). Listens on 127.0.0.1:$PORT (0 or unset:
 * ephemeral) and prints `listening <port>` when ready. Exits on SIGTERM/SIGINT
 * and when stdin closes (the parent went away).
 */
import net from 'node:net';

import { serve } from './common.js';

serve(
  net.createServer({ noDelay: true }, (sock) => {
    sock.on('data', (chunk) => sock.write(chunk));
    sock.on('error', () => sock.destroy());
  }),
);
