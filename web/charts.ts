/**
 * A rollout's charts, drawn with uPlot from `GET …/series`: requests per second, error
 * rate, p50/p99 latency, per version, and the sequential judge's evidence against the
 * rollback line; each with the step boundaries (`marks`) as vertical lines. The error rate
 * drawn is each point's highest one-second rate (`maxErrorRate`), so a few seconds of errors
 * keep their height however wide a point is.
 */
import uPlot from './vendor/uPlot.esm.js';
import { h } from './dom.js';
import type { Series, VersionSeries } from './types.js';

const VERSIONS = ['stable', 'canary', 'baseline'] as const;
type Line = { label: string; values: (number | null)[]; color: string; dash?: number[]; width?: number };

/** The colours the stylesheet gives the versions, for light and dark alike. */
function colour(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim() || '#888';
}

/** Draws `series` into `root`, replacing what was there; returns the charts, to destroy later. */
export function drawCharts(root: HTMLElement, series: Series): uPlot[] {
  const t = series.t.map((ms) => ms / 1000);
  const perSecond = series.width / 1000;
  const by = (pick: (v: VersionSeries) => (number | null)[], scale = 1, suffix = '', dash?: number[]): Line[] =>
    VERSIONS.flatMap((name) => {
      const v = series.versions[name];
      return v
        ? [
            {
              label: `${name}${suffix}`,
              values: pick(v).map((x) => (x === null ? null : x * scale)),
              color: colour(name),
              ...(dash ? { dash } : {}),
            },
          ]
        : [];
    });
  const charts: [string, string, Line[]][] = [
    ['requests', 'Requests per second', by((v) => v.requests, 1 / perSecond)],
    ['errors', 'Error rate, % (the worst second in each point)', by((v) => v.maxErrorRate, 100)],
    [
      'latency',
      'Latency, ms (p99 solid, p50 dashed)',
      [...by((v) => v.p99, 1000, ' p99'), ...by((v) => v.p50, 1000, ' p50', [4, 4])],
    ],
  ];
  const evidence = evidenceLines(series, t);
  if (evidence.length > 0) charts.push(['evidence', 'Evidence against the canary, ln e-value', evidence]);
  root.replaceChildren();
  return charts.map(([id, title, lines]) => {
    const figure = h('figure', { class: 'chart', 'data-chart': id }, h('figcaption', { id: `chart-${id}` }, title));
    root.append(figure);
    return chart(figure, t, lines, series.marks);
  });
}

/** ln E of each run and metric at each point's last round, with the line where the run fails. */
function evidenceLines(series: Series, t: number[]): Line[] {
  const palette = ['canary', 'stable', 'baseline', 'fg'];
  const runs = series.evidence.map((e, i): Line => {
    const at = new Map(e.points.map(([ms, logE]) => [ms / 1000, logE]));
    const color = colour(palette[i % palette.length]!);
    return { label: `${e.run} ${e.metric}`, values: t.map((x) => at.get(x) ?? null), color, width: 2 };
  });
  // One rollback line per level (each metric's ln(1/α)), however many runs share it.
  const levels = new Map(series.evidence.map((e) => [e.rollbackAt, e.metric]));
  const lines = [...levels].map(([at, metric]): Line => ({
    label: `rollback line (${metric}, ${at.toFixed(2)})`,
    values: t.map(() => at),
    color: colour('bad'),
    dash: [6, 4],
    width: 1.5,
  }));
  return [...runs, ...lines];
}

function chart(figure: HTMLElement, t: number[], lines: Line[], marks: Series['marks']): uPlot {
  const axis = { stroke: colour('fg-muted'), grid: { stroke: colour('grid'), width: 1 }, ticks: { show: false } };
  const opts: uPlot.Options = {
    width: Math.max(300, figure.clientWidth - 8),
    height: 190,
    scales: { x: { time: true } },
    axes: [axis, { ...axis, size: 56 }],
    series: [
      {},
      ...lines.map((l) => ({
        label: l.label,
        stroke: l.color,
        width: l.width ?? 1.5,
        spanGaps: false,
        points: { show: false },
        ...(l.dash ? { dash: l.dash } : {}),
      })),
    ],
    hooks: { draw: [(u: uPlot) => drawMarks(u, marks)] },
  };
  const plot = new uPlot(opts, [t, ...lines.map((l) => l.values)] as uPlot.AlignedData, figure);
  new ResizeObserver(() => plot.setSize({ width: Math.max(300, figure.clientWidth - 8), height: 190 })).observe(figure);
  return plot;
}

/** The step boundaries: a dashed vertical line at each deploy, phase or weight change and result. */
function drawMarks(u: uPlot, marks: Series['marks']): void {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.strokeStyle = colour('mark');
  ctx.setLineDash([3, 3]);
  ctx.lineWidth = 1;
  for (const m of marks) {
    const x = Math.round(u.valToPos(m.at / 1000, 'x', true));
    if (x < bbox.left || x > bbox.left + bbox.width) continue;
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
  }
  ctx.restore();
}
