/**
 * bench/servers/balancing-common: what the two servers of
 * bench/scenarios/balancing.ts share: the CPU bursts of the WORKERS workers
 * (busy-waits of BURST_MIN_US..BURST_MAX_US µs, a fixed pseudo-random
 * sequence per worker), and the stats protocol: every `stats` line on stdin
 * is answered with `stats <json>` on stdout (bursts done so far, the
 * server's clock in ms, plus what
 * the server adds), so the scenario can take the work done during a load.
 */
import { fstatSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export const WORKERS = Number(process.env.WORKERS ?? 10_000);
const MIN_US = Number(process.env.BURST_MIN_US ?? 5);
const MAX_US = Number(process.env.BURST_MAX_US ?? 50);

export const counters = { bursts: 0 };

/**
 * START_AFTER (default 0): the workers start once that many connections have
 * been accepted, not before: node:net with 1,000 runnable workers stopped
 * accepting (847 of 1,000 connections were still in the listen queue after
 * 9 s), so both servers start their workers once the load generator is
 * connected, and the client's warm-up covers the start.
 */
const START_AFTER = Number(process.env.START_AFTER ?? 0);
let accepted = 0;
let started = false;
let startWorkers: (() => void) | null = null;

/** Call with the function that starts the workers; it runs once START_AFTER connections are in. */
export function whenConnected(start: () => void): void {
  startWorkers = start;
  if (accepted >= START_AFTER) begin();
}

/** Count an accepted connection. */
export function connected(): void {
  accepted++;
  if (accepted >= START_AFTER && startWorkers !== null) begin();
}

function begin(): void {
  if (started) return;
  started = true;
  startWorkers!();
}

/** A burst generator for worker `i`: each call busy-waits its next duration. */
export function burster(i: number): () => void {
  let seed = (i * 2654435761) >>> 0 || 1;
  return () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const us = MIN_US + ((seed >>> 8) % (MAX_US - MIN_US + 1));
    const end = performance.now() + us / 1000;
    while (performance.now() < end);
    counters.bursts++;
  };
}

/** Answer `stats` lines; exit when stdin ends (the parent went away) or on SIGTERM/SIGINT. */
export function statsProtocol(extra: () => Record<string, number>): void {
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line === 'stats') process.stdout.write(`stats ${JSON.stringify({ ...counters, ms: performance.now(), ...extra() })}\n`);
    }
  });
  const stop = (): void => process.exit(0);
  // Only a pipe from the parent is a parent to watch (not a terminal or /dev/null).
  const st = fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
  }
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
