/**
 * bench/lib/sweep: what the cost-curve sweeps (bench/scenarios/sweep-*.ts)
 * share: a Markdown table with one row per size and one column per
 * contender, the flatness of every contender's curve (largest per-op cost
 * over the smallest, target ≤ 1.5), and the PNG drawn by bench/lib/plot.ts.
 */
import { spawnSync } from 'node:child_process';

import { flatness, writeCurvePlot, type CurvePoint } from './plot.js';

import { loadavg as loadavgFields, root } from './net.js';

export { median, root, smoke } from './net.js';

/** SIZES from the environment (comma-separated), else the given default. */
export function sizes(def: number[]): number[] {
  const s = process.env.SIZES;
  return s ? s.split(',').map(Number).filter((n) => n > 0) : def;
}

/** The 1, 5 and 15-minute load averages (a sweep runs for minutes). */
export function loadavg(): string {
  return loadavgFields(3);
}

export const fmt = (n: number, digits = 2): string =>
  n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? Math.min(digits, 1) : digits);

/**
 * Prints the table (sizes down, contenders across, each cell the per-op
 * cost; `extra` adds a second figure per cell, e.g. a rate) and the
 * flatness line, and writes the plot. Returns the flatness per contender.
 */
export async function report(o: {
  title: string;
  sizeName: string;
  cost: string;
  points: CurvePoint[];
  extra?: Map<string, string>;
  plotFile: string;
  plotTitle: string;
}): Promise<Map<string, number>> {
  const series = [...new Set(o.points.map((p) => p.series))];
  const xs = [...new Set(o.points.map((p) => p.x))].sort((a, b) => a - b);
  const head = [o.sizeName, ...series.map((s) => `${s}: ${o.cost}`)];
  const lines = [`| ${head.join(' | ')} |`, `|---${'|---:'.repeat(series.length)}|`];
  for (const x of xs) {
    const cells = series.map((s) => {
      const p = o.points.find((q) => q.series === s && q.x === x);
      if (!p) return '-';
      const e = o.extra?.get(`${s}@${x}`);
      return e ? `${fmt(p.y)} (${e})` : fmt(p.y);
    });
    lines.push(`| ${x.toLocaleString('en-US')} | ${cells.join(' | ')} |`);
  }
  const flat = flatness(o.points);
  lines.push(
    `| largest / smallest cost (target ≤ 1.5) | ${series
      .map((s) => {
        const f = flat.get(s)!;
        // A 0 (CPU time below the 10 ms clock tick: only at smoke sizes) has no ratio.
        if (!Number.isFinite(f)) return 'n/a (below clock resolution)';
        return `${f.toFixed(2)}×${f <= 1.5 ? '' : ' **not flat**'}`;
      })
      .join(' | ')} |`,
  );
  console.log(`\n${o.title}\n`);
  console.log(lines.join('\n'));
  try {
    await writeCurvePlot({ title: o.plotTitle, xTitle: o.sizeName, yTitle: o.cost, logY: true, points: o.points, file: o.plotFile });
    console.log(`\nplot: ${o.plotFile.startsWith(root) ? o.plotFile.slice(root.length) : o.plotFile}`);
  } catch (e) {
    console.error(`plot not written: ${String((e as Error)?.message ?? e)}`);
  }
  return flat;
}

/**
 * Runs a C contender to completion and returns its stdout and its CPU time
 * (user + system of the child, from bash's `times`, in seconds): the wall
 * time a program prints is inflated when the shared machine is busy, its
 * CPU time much less so.
 */
export function runC(cmd: string, args: string[], env: Record<string, string>): { out: string; cpu: number } {
  const r = spawnSync('bash', ['-c', '"$0" "$@" || exit $?; times >&2', cmd, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
  const lines = r.stderr.trim().split('\n');
  const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s/.exec(lines[lines.length - 1]!);
  if (!m) throw new Error(`${cmd}: no CPU times in ${JSON.stringify(r.stderr)}`);
  return { out: r.stdout, cpu: Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) };
}

/** This process's CPU time (all threads: libuv's pool, io_uring's io-wq workers), in seconds. */
export function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
