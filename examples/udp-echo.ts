// A UDP echo server on uringmachine: one multishot recvmsg on the buffer
// pool (m.recvmsgBatches) yields the datagrams of each completion batch with
// their senders' addresses, and m.sendtoBatch sends them all back at once.
//
//   node out/examples/udp-echo.js              # 127.0.0.1:1235
//   HOST=::1 PORT=0 node out/examples/udp-echo.js
//
// Prints "listening <port>" once bound (PORT=0: a port the kernel picks, read
// back from /proc/net/udp). Stops on SIGINT/SIGTERM: the fiber is
// terminated, which cancels its multishot recvmsg.
import { readFileSync, readlinkSync } from 'node:fs';

import { constants, type SendResult, Terminate, UringMachine } from 'uringmachine';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 1235);
const v6 = host.includes(':');

/** The port the kernel bound fd to (getsockname is not part of the API). */
function boundPort(fd: number): number {
  const ino = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  for (const line of readFileSync(v6 ? '/proc/net/udp6' : '/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[9] === ino) return parseInt(f[1]!.split(':')[1]!, 16);
  }
  throw new Error('bound port not found');
}

let drops = 0;
function dropped(): void {
  drops++;
}
function count(results: SendResult[]): void {
  for (const r of results) if (typeof r !== 'number') drops++;
}

const m = new UringMachine();
const fd = await m.socket(v6 ? constants.AF_INET6! : constants.AF_INET!, constants.SOCK_DGRAM!);
await m.bind(fd, host, port);
// --each (or MODE=each): the per-datagram loop (recvmsgEach + sendto with host/port),
// kept for comparison (bench/scenarios/udp.ts runs both).
// --raw (or MODE=raw): per datagram too, but each reply to the raw address
// (m.sendtoBatch(fd, [d])), no address decoded or encoded.
const each = process.env.MODE === 'each' || process.argv.includes('--each');
const raw = process.env.MODE === 'raw' || process.argv.includes('--raw');
const server = m.spin(async () => {
  try {
    if (each) {
      for await (const d of m.recvmsgEach(fd)) m.sendto(fd, d.data, d.host, d.port).catch(dropped);
    } else if (raw) {
      for await (const d of m.recvmsgEach(fd)) m.sendtoBatch(fd, [d]).then(count, dropped);
    } else {
      // Each completion batch's datagrams come as one array and go back in
      // one sendtoBatch: each reply to the sender's raw address bytes, one
      // promise per batch. The replies are not awaited: a UDP send does not
      // block, and the loop takes the next batch meanwhile; a failed one
      // (e.g. ECONNREFUSED from a gone client) is dropped as a lost datagram
      // would be.
      for await (const batch of m.recvmsgBatches(fd)) m.sendtoBatch(fd, batch).then(count, dropped);
    }
  } catch (e) {
    if (!(e instanceof Terminate)) throw e;
  }
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => m.terminate(server));
console.log(`listening ${boundPort(fd)}`);
await m.join(server);
await m.close(fd);
m.close();
if (drops > 0) console.error(`${drops} replies failed`);
