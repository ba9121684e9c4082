// A UDP echo server on uringmachine: one multishot recvmsg on the buffer
// pool (m.recvmsgEach) yields each datagram with its sender, and sendto
// sends it back.
//
//   node out/examples/udp-echo.js              # 127.0.0.1:1235
//   HOST=::1 PORT=0 node out/examples/udp-echo.js
//
// Prints "listening <port>" once bound (PORT=0: a port the kernel picks, read
// back from /proc/net/udp). Stops on SIGINT/SIGTERM: the fiber is
// terminated, which cancels its multishot recvmsg.
import { readFileSync, readlinkSync } from 'node:fs';

import { constants, Terminate, UringMachine } from 'uringmachine';

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

const m = new UringMachine();
const fd = await m.socket(v6 ? constants.AF_INET6! : constants.AF_INET!, constants.SOCK_DGRAM!);
await m.bind(fd, host, port);
const server = m.spin(async () => {
  try {
    // Replies are not awaited one by one: the datagrams of one completion
    // batch are all answered in the next submission (a UDP send does not
    // block; a failed one, e.g. ECONNREFUSED from a gone client, is dropped
    // as a lost datagram would be).
    for await (const d of m.recvmsgEach(fd)) m.sendto(fd, d.data, d.host, d.port).catch(dropped);
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
