/**
 * bench/servers/sink: a node:net server that reads each connection to EOF,
 * discarding the bytes, then answers the byte count (decimal) and closes.
 * The receiving end of the file-to-socket benchmark in
 * bench/scenarios/adapters.ts, a separate process so both contenders face the
 * same reader. Protocol of bench/servers/common.ts.
 */
import net from 'node:net';

import { serve } from './common.js';

serve(
  net.createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('data', (c: Buffer) => (n += c.length));
    s.on('end', () => s.end(String(n)));
    s.on('error', () => s.destroy());
  }),
);
