/**
 * bench/balancing: I/O latency against a runqueue that never empties, for
 * each maxSwitches policy and several settings (docs/API.md, "Balancing I/O
 * with the runqueue"). The server (bench/servers/balancing-um.ts) runs
 * WORKERS fibers, each looping over a CPU burst of BURST_MIN_US..BURST_MAX_US
 * µs and `await m.snooze()`, and echoes on every connection; the C load
 * generator (bench/bin/echo_client) keeps CONNS loopback connections in
 * lockstep for DURATION s (after WARMUP s) and times every round trip. The
 * reference is node:net serving the same load next to the same workers
 * (bench/servers/balancing-net.ts, workers yield with setImmediate).
 * Reported per setting: round trips/s, round-trip latency p50 / p99 / p99.9
 * / max, worker bursts/s (CPU work the workers got done meanwhile), turns/s
 * and the switch limit the policy ended with; the load average next to it.
 * Then the targets of issue 14 are checked for the default policy, and a
 * PNG plot (throughput vs p99, one point per setting; vega-lite → SVG →
 * @resvg/resvg-js) is written to PLOT (bench/balancing.png;
 * out/bench/balancing-smoke.png with BENCH_SMOKE=1).
 * Env: WORKERS (10000), CONNS (1000), DURATION (4), WARMUP (1), SIZE (64),
 * BURST_MIN_US (5), BURST_MAX_US (50), SETTINGS (comma-separated labels of
 * the list below to run; default all), CLIENT (uring), PLOT;
 * BENCH_SMOKE=1: 300 workers, 20 connections, 0.4 s, four settings.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { fmt, loadavg, nodeServer, root, runLoad, smoke, startServer, stopServer, table, type Server } from '../lib/net.js';

const WORKERS = Number(process.env.WORKERS ?? (smoke ? 300 : 10_000));
const CONNS = Number(process.env.CONNS ?? (smoke ? 20 : 1000));
const DURATION = Number(process.env.DURATION ?? (smoke ? 0.4 : 4));
const WARMUP = Number(process.env.WARMUP ?? (smoke ? 0.2 : 1));
const SIZE = Number(process.env.SIZE ?? 64);
const PLOT = process.env.PLOT ?? `${root}${smoke ? 'out/bench/balancing-smoke.png' : 'bench/balancing.png'}`;
const client = `${root}bench/bin/echo_client`;

type Setting = { label: string; policy: string; option?: unknown; net?: boolean };
const UNBOUNDED = 'unbounded drain (2^31-1)';
export const SETTINGS: Setting[] = [
  { label: UNBOUNDED, policy: 'fixed', option: 0x7fffffff },
  { label: 'fixed 1024', policy: 'fixed', option: 1024 },
  { label: 'fixed 256', policy: 'fixed', option: 256 },
  { label: 'fixed 64', policy: 'fixed', option: 64 },
  { label: 'fixed 16', policy: 'fixed', option: 16 },
  { label: 'runqueueShare 0.1', policy: 'runqueueShare', option: { runqueueShare: 0.1 } },
  { label: 'runqueueShare 0.01', policy: 'runqueueShare', option: { runqueueShare: 0.01 } },
  { label: 'runqueueShare 0.002', policy: 'runqueueShare', option: { runqueueShare: 0.002 } },
  { label: 'targetLatencyMs 4', policy: 'targetLatencyMs', option: { targetLatencyMs: 4 } },
  { label: "'adaptive' (targetLatencyMs 1)", policy: 'targetLatencyMs', option: 'adaptive' }, // the default
  { label: 'targetLatencyMs 0.25', policy: 'targetLatencyMs', option: { targetLatencyMs: 0.25 } },
  { label: 'node:net + setImmediate', policy: 'node:net', net: true },
];
/** The setting the machine's default (no maxSwitches option) corresponds to. */
const DEFAULT_LABEL = "'adaptive' (targetLatencyMs 1)";
const SMOKE_SETTINGS = [UNBOUNDED, 'fixed 64', "'adaptive' (targetLatencyMs 1)", 'node:net + setImmediate'];

type Row = {
  setting: Setting;
  load: string;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  burstsPerS: number;
  turnsPerS: number;
  limit: number;
};

/** Sends `stats` to the server and resolves with its JSON answer. */
function stats(s: Server): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    // With an unbounded drain, 64 chained microtask turns of 10,000 bursts
    // each run before the event loop reads stdin: that takes a while.
    const timer = setTimeout(() => done(new Error(`${s.name}: no stats within 180 s`)), 180_000);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const m = /stats (\{.*\})\n/.exec(buf);
      if (m) done(null, JSON.parse(m[1]!) as Record<string, number>);
    };
    const done = (e: Error | null, v?: Record<string, number>): void => {
      clearTimeout(timer);
      s.proc.stdout!.off('data', onData);
      if (e) reject(e);
      else resolve(v!);
    };
    s.proc.stdout!.on('data', onData);
    s.proc.stdin!.write('stats\n');
  });
}

async function measure(setting: Setting): Promise<Row> {
  const spec = setting.net
    ? nodeServer(setting.label, 'out/bench/servers/balancing-net.js')
    : nodeServer(setting.label, 'out/bench/servers/balancing-um.js');
  process.env.WORKERS = String(WORKERS);
  process.env.START_AFTER = String(CONNS);
  process.env.MAX_SWITCHES = setting.net ? '' : JSON.stringify(setting.option);
  const load = loadavg();
  const s = await startServer(spec);
  try {
    const before = await stats(s);
    const out = JSON.parse(
      await runLoad(
        client,
        [],
        {
          PORT: String(s.port),
          CONNS: String(CONNS),
          SIZE: String(SIZE),
          ROUNDS: '1000000000',
          WARMUP: WARMUP > 0 ? '1000000000' : '0',
          WARMUP_DURATION: String(WARMUP),
          DURATION: String(DURATION),
        },
        120_000,
      ),
    ) as { rps: number; p50Us: number; p99Us: number; p999Us: number; maxUs: number };
    const after = await stats(s);
    return {
      setting,
      load,
      rps: out.rps,
      p50: out.p50Us / 1000,
      p99: out.p99Us / 1000,
      p999: out.p999Us / 1000,
      max: out.maxUs / 1000,
      // Over the server's own clock between the two answers: with an
      // unbounded drain the second one comes long after the load ended.
      burstsPerS: ((after.bursts! - before.bursts!) * 1000) / (after.ms! - before.ms!),
      turnsPerS: setting.net ? NaN : ((after.turns! - before.turns!) * 1000) / (after.ms! - before.ms!),
      limit: setting.net ? NaN : after.limit!,
    };
  } finally {
    await stopServer(s);
  }
}

const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** throughput vs p99 (log scale), one point per setting, coloured by policy. */
async function plot(rows: Row[], title: string): Promise<void> {
  const vl = await import('vega-lite');
  const vega = await import('vega');
  const { Resvg } = await import('@resvg/resvg-js');
  const values = rows.map((r) => ({ label: r.setting.label, policy: r.setting.policy, rps: r.rps, p99: r.p99 }));
  const enc = {
    x: { field: 'rps', type: 'quantitative', title: 'round trips/s (client)' },
    y: { field: 'p99', type: 'quantitative', title: 'p99 round-trip latency (ms, log)', scale: { type: 'log' } },
  };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 720,
    height: 440,
    background: 'white',
    data: { values },
    layer: [
      { mark: { type: 'point', filled: true, size: 90 }, encoding: { ...enc, color: { field: 'policy', type: 'nominal', title: 'policy' }, shape: { field: 'policy', type: 'nominal' } } },
      { mark: { type: 'text', align: 'left', dx: 7, dy: -7, fontSize: 10 }, encoding: { ...enc, text: { field: 'label' } } },
    ],
  };
  const compiled = vl.compile(spec as never).spec;
  const svg = await new vega.View(vega.parse(compiled), { renderer: 'none' }).toSVG();
  const png = new Resvg(svg, { background: 'white', font: { loadSystemFonts: true } }).render().asPng();
  mkdirSync(dirname(PLOT), { recursive: true });
  writeFileSync(PLOT, png);
}

async function main(): Promise<void> {
  const only = process.env.SETTINGS ? process.env.SETTINGS.split(',') : smoke ? SMOKE_SETTINGS : null;
  const settings = only ? SETTINGS.filter((s) => only.includes(s.label) || only.includes(s.policy)) : SETTINGS;
  const rows: Row[] = [];
  const failed: string[] = [];
  for (const setting of settings) {
    try {
      rows.push(await measure(setting));
    } catch (e) {
      console.error(`${setting.label}:`, e);
      failed.push(setting.label);
      process.exitCode = 1;
    }
  }
  const title = `balancing: ${fmt(WORKERS)} fibers (CPU bursts 5-50 µs + snooze), ${fmt(CONNS)} echo connections`;
  console.log(
    `\n### ${title} × ${DURATION} s of ${SIZE} B round trips (node ${process.version}; one run per setting; load average before each)\n`,
  );
  const head = ['setting', 'round trips/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'worker bursts/s', 'turns/s', 'final limit', 'load'];
  console.log(
    table(
      head,
      rows.map((r) => [
        r.setting.label,
        fmt(r.rps),
        ms(r.p50),
        ms(r.p99),
        ms(r.p999),
        ms(r.max),
        fmt(r.burstsPerS),
        Number.isNaN(r.turnsPerS) ? '' : fmt(r.turnsPerS),
        Number.isNaN(r.limit) ? '' : String(r.limit),
        r.load,
      ]),
    ),
  );
  if (failed.length) console.log(`\nfailed: ${failed.join(', ')}`);
  const def = rows.find((r) => r.setting.label === DEFAULT_LABEL);
  const unb = rows.find((r) => r.setting.label === UNBOUNDED);
  const net = rows.find((r) => r.setting.net);
  if (def && unb) {
    const p99x = unb.p99 / def.p99;
    const tput = def.rps / unb.rps;
    console.log(
      `\ndefault (${DEFAULT_LABEL}) vs unbounded drain: p99 ${p99x.toFixed(1)}× lower (target ≥ 2: ${p99x >= 2 ? 'met' : 'NOT met'}), ` +
        `round trips/s ${tput.toFixed(2)}× (target ≥ 0.95: ${tput >= 0.95 ? 'met' : 'NOT met'}), worker bursts/s ${(def.burstsPerS / unb.burstsPerS).toFixed(2)}×`,
    );
  }
  if (def && net) {
    console.log(
      `default vs node:net: p99.9 ${ms(def.p999)} ms against ${ms(net.p999)} ms (target not above: ${def.p999 <= net.p999 ? 'met' : 'NOT met'})`,
    );
  }
  if (rows.length > 0) {
    await plot(rows, title);
    console.log(`\nplot: ${PLOT.startsWith(root) ? PLOT.slice(root.length) : PLOT}`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
