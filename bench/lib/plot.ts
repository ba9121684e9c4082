/**
 * Cost-curve plots for the benchmark sweeps: one line per contender, the
 * sweep's size on a log x axis, a per-op cost (or a rate) on y. Rendered
 * with vega-lite → SVG → @resvg/resvg-js into a PNG next to bench/RESULTS.md,
 * so the figure in the Markdown is the one the run produced.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface CurvePoint {
  /** the contender (one line each): 'uringmachine', 'node:fs', 'C', ... */
  series: string;
  /** the sweep's size: files, connections, groups... */
  x: number;
  /** the measured value at that size */
  y: number;
}

export interface CurvePlot {
  title: string;
  xTitle: string;
  yTitle: string;
  /** log scale on y as well (x is always log) */
  logY?: boolean;
  points: CurvePoint[];
  /** where the PNG goes (directories are made) */
  file: string;
}

/** Write `plot` as a PNG. Throws when the plotting packages are missing. */
export async function writeCurvePlot(plot: CurvePlot): Promise<void> {
  const vl = await import('vega-lite');
  const vega = await import('vega');
  const { Resvg } = await import('@resvg/resvg-js');
  const enc = {
    x: { field: 'x', type: 'quantitative', title: plot.xTitle, scale: { type: 'log' } },
    y: { field: 'y', type: 'quantitative', title: plot.yTitle, scale: plot.logY ? { type: 'log' } : { zero: true } },
    color: { field: 'series', type: 'nominal', title: null, legend: { labelLimit: 360 } },
  };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: plot.title,
    width: 640,
    height: 380,
    background: 'white',
    data: { values: plot.points },
    layer: [
      { mark: { type: 'line', point: { filled: true, size: 60 } }, encoding: { ...enc, shape: { field: 'series', type: 'nominal' } } },
    ],
  };
  const compiled = vl.compile(spec as never).spec;
  const svg = await new vega.View(vega.parse(compiled), { renderer: 'none' }).toSVG();
  const png = new Resvg(svg, { background: 'white', font: { loadSystemFonts: true } }).render().asPng();
  mkdirSync(dirname(plot.file), { recursive: true });
  writeFileSync(plot.file, png);
}

/**
 * How flat a curve is: the largest per-op cost over the smallest, per
 * series (the sweep targets ask for ≤ 1.5 from the smallest size to the largest).
 */
export function flatness(points: CurvePoint[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of new Set(points.map((p) => p.series))) {
    const ys = points.filter((p) => p.series === s).map((p) => p.y);
    out.set(s, Math.max(...ys) / Math.min(...ys));
  }
  return out;
}
