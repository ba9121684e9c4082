// The local port of a TCP socket, read from /proc/net/tcp (getsockname is
// not part of the API), for the issue-15 tests.
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';

export function localPort(fd: number): number {
  const ino = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    for (const line of readFileSync(`/proc/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[9] === ino) return parseInt(f[1]!.split(':')[1]!, 16);
    }
  }
  assert.fail(`socket ${fd} not in /proc/net`);
}
