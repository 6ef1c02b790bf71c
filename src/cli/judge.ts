import { loadFileText, parseText } from '../config/load.js';
import { loadKind } from '../config/kinds.js';
import { kayentaCanaryConfig, metricsOf } from '../config/schemas/kayenta.js';
import { judgeKayenta, type KayentaReport } from '../analysis/judges/kayenta/judge.js';
import { scoreThresholdsOf } from '../analysis/judges/kayenta/stage.js';
import { SequentialJudge, type SequentialReport } from '../analysis/judges/sequential/judge.js';
import { readMetricPairs, readRequestLog } from '../analysis/offline.js';
import { BUILTIN_TEMPLATES } from '../config/templates.js';
import { sequentialSettings } from '../analysis/templates.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';
import { table } from './table.js';

export const summary = 'run a judge offline on baseline and canary data from files';

const HELP = `kanari judge --kayenta CANARY-CONFIG.json --data PAIRS.json|PAIRS.csv [--pass 95] [--marginal 75] [--json]
kanari judge --sequential [-f TEMPLATE.yaml] --data REQUESTS.csv [--json]

--kayenta   a Kayenta canary config, judged by NetflixACAJudge-v1.0. Data: Kayenta's
            MetricSetPair list ([{name, tags, values: {control: [...], experiment: [...]}}])
            or a CSV with columns metric,version,value (version: control or canary).
--sequential  kanari's sequential judge (the template's, or the defaults) over a request
            log: a CSV with columns time,version,status,latency_ms, judged second by second.
Exit code 0 when the canary passes, 1 when it fails or is inconclusive, 2 for bad input.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('judge', argv, {
    kayenta: { type: 'string' },
    sequential: { type: 'boolean' },
    file: { type: 'string', short: 'f' },
    data: { type: 'string', short: 'd' },
    pass: { type: 'string' },
    marginal: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (!values.data) throw new UsageError('judge: name the data with --data FILE');
  if (Boolean(values.kayenta) === Boolean(values.sequential))
    throw new UsageError('judge: choose one judge, --kayenta CONFIG or --sequential');

  if (values.kayenta) {
    const config = parseText(loadFileText(values.kayenta), values.kayenta, kayentaCanaryConfig);
    const base = scoreThresholdsOf(config);
    const thresholds = {
      pass: numberFlag('pass', values.pass) ?? base.pass,
      marginal: numberFlag('marginal', values.marginal) ?? base.marginal,
    };
    const metrics = metricsOf(config);
    const report = judgeKayenta(
      metrics,
      readMetricPairs(
        values.data,
        metrics.map((m) => m.name),
      ),
      config.classifier.groupWeights,
      thresholds,
    );
    console.log(values.json ? JSON.stringify(report, null, 2) : formatKayenta(report, thresholds));
    return report.classification === 'Pass' ? EXIT.ok : EXIT.failed;
  }

  const spec = values.file ? loadKind(values.file, 'AnalysisTemplate').spec : BUILTIN_TEMPLATES.sequential!;
  if (!spec.sequential) throw new UsageError(`judge: ${values.file} is not a sequential template`);
  if (spec.sequential.unit === 'users')
    throw new UsageError(
      `judge: ${values.file} asks for unit: users, but a request log has no users; judge it with unit: requests (valid only where each request was assigned a version on its own)`,
    );
  // A request log is requests: there are no users to count, whatever the template's default.
  const judge = new SequentialJudge({ ...sequentialSettings(spec.sequential), unit: 'requests', srm: false });
  let stoppedAt: number | undefined;
  const windows = readRequestLog(values.data);
  for (const [i, w] of windows.entries()) {
    judge.observe(w);
    if (judge.verdict() === 'Failed') {
      stoppedAt = i + 1;
      break;
    }
  }
  const report = judge.report(true);
  console.log(
    values.json
      ? JSON.stringify({ ...report, stoppedAtSecond: stoppedAt ?? null }, null, 2)
      : formatSequential(report, windows.length, stoppedAt),
  );
  return report.verdict === 'Successful' ? EXIT.ok : EXIT.failed;
}

function numberFlag(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new UsageError(`judge: --${name} must be a number (got ${text})`);
  return n;
}

const num = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x)
    ? '—'
    : Math.abs(x) >= 1000 || (Math.abs(x) < 0.001 && x !== 0)
      ? x.toExponential(3)
      : x.toPrecision(4).replace(/\.?0+$/, '');

function formatKayenta(r: KayentaReport, t: { pass: number; marginal: number }): string {
  const rows = [
    ['metric', 'classification', 'canary mean', 'baseline mean', 'ratio', 'CI (shift)'],
    ...r.metrics.map((m) => [
      m.name +
        (Object.keys(m.tags).length
          ? ` {${Object.entries(m.tags)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')}}`
          : '') +
        (m.muted ? ' (muted)' : ''),
      m.classification + (m.critical ? ' (critical)' : ''),
      num(m.experiment.mean),
      num(m.control.mean),
      num(m.deviation),
      m.interval ? `[${num(m.interval.lower)}, ${num(m.interval.upper)}]` : '—',
    ]),
  ];
  const lines = [
    `Kayenta score ${r.score} — ${r.classification} (pass ≥ ${t.pass}, marginal ≥ ${t.marginal})${r.reason ? `: ${r.reason}` : ''}`,
    ...table(rows),
  ];
  if (r.groups.length > 1)
    lines.push(`groups: ${r.groups.map((g) => `${g.name} ${g.noData ? 'no data' : g.score.toFixed(2)}`).join(', ')}`);
  return lines.join('\n');
}

function formatSequential(r: SequentialReport, seconds: number, stoppedAt: number | undefined): string {
  const rows = [
    ['metric', 'event', 'canary', 'control', 'ratio (CS)', 'e-value', 'p'],
    ...r.metrics.flatMap((m) =>
      m.parts.map((p, i) => [
        i === 0 ? m.name : '',
        p.event,
        `${p.canary.events}/${p.canary.requests}`,
        `${p.control.events}/${p.control.requests}`,
        `${num(p.ratio.estimate)} (${num(p.ratio.lower)}–${num(p.ratio.upper)})`,
        i === 0 ? `${num(m.eValue)} / ${num(1 / m.alpha)}` : num(p.eValue),
        i === 0 ? num(m.pValue) : '',
      ]),
    ),
  ];
  const when = stoppedAt === undefined ? `after all ${seconds} seconds` : `at second ${stoppedAt} of ${seconds}`;
  return [`${r.verdict} ${when}: ${r.reason}`, ...table(rows)].join('\n');
}
