import type { AnalysisTemplateSpec } from '../config/schemas/analysis.js';
import type { SimulationSpec } from '../config/schemas/simulation.js';
import { loadFiles } from '../config/kinds.js';
import { formatDuration } from '../config/duration.js';
import { simulate, unanswerable, variantsOf, type SimulationReport } from '../simulate/simulate.js';
import { BUILTIN_TEMPLATES } from '../config/templates.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';
import { table } from './table.js';

export const summary = 'run a rollout plan and analysis templates against synthetic traffic, many times';

const HELP = `kanari simulate -f SIMULATION.yaml [-t TEMPLATES.yaml] [--runs N] [--json]

Runs the file's plan on a virtual clock, once per seed, with the real rollout state
machine: either its setWeight and pause steps under each template it names (built in:
${Object.keys(BUILTIN_TEMPLATES).join(', ')}; or AnalysisTemplate documents from the same
file or from -t), or the Rollout it names (\`rollout: { file: … }\`) with that rollout's own
analyses. Reports rollbacks, time to rollback and harm beside the theoretical limit.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('simulate', argv, {
    file: { type: 'string', short: 'f' },
    template: { type: 'string', short: 't', multiple: true },
    runs: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (!values.file) throw new UsageError('simulate: name a Simulation file with -f FILE');
  const runs = values.runs === undefined ? undefined : Number(values.runs);
  if (runs !== undefined && !(Number.isInteger(runs) && runs > 0))
    throw new UsageError(`simulate: --runs must be a positive whole number (got ${values.runs})`);

  const templates = new Map<string, AnalysisTemplateSpec>(Object.entries(BUILTIN_TEMPLATES));
  const simulations: { name: string; spec: SimulationSpec }[] = [];
  // loadFiles refuses, at their line, templates the simulator could not run (what lint checks too).
  for (const result of loadFiles([values.file, ...(values.template ?? [])])) {
    if ('error' in result) throw result.error;
    const file = result.file;
    for (const doc of result.documents) {
      if (doc.kind === 'AnalysisTemplate') {
        const t = doc.value as { metadata: { name: string }; spec: AnalysisTemplateSpec };
        templates.set(t.metadata.name, t.spec);
      } else if (doc.kind === 'Simulation' && file === values.file) {
        const s = doc.value as { metadata: { name: string }; spec: SimulationSpec };
        simulations.push({ name: s.metadata.name, spec: s.spec });
      }
    }
  }
  if (simulations.length === 0) throw new UsageError(`simulate: ${values.file} holds no Simulation document`);

  const reports: { name: string; report: SimulationReport }[] = [];
  for (const sim of simulations) {
    const chosen = sim.spec.rollout
      ? [...templates].map(([name, spec]) => ({ name, spec }))
      : (sim.spec.templates ?? ['sequential']).map((t) =>
          typeof t === 'string' ? { name: t, spec: templates.get(t)! } : { name: t.name, spec: t.spec },
        );
    for (const variant of variantsOf(sim.spec, chosen)) {
      const reason = unanswerable(variant);
      if (reason) throw new UsageError(`simulate: ${sim.name}: ${reason}`);
    }
    const started = performance.now();
    const report = await simulate(sim.spec, chosen, runs);
    reports.push({ name: sim.name, report });
    if (!values.json)
      console.log(formatReport(sim.name, sim.spec, report, runs ?? sim.spec.runs, performance.now() - started));
  }
  if (values.json) console.log(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
  return EXIT.ok;
}

function formatReport(name: string, spec: SimulationSpec, r: SimulationReport, runs: number, ms: number): string {
  const plan =
    r.plan === 'steps'
      ? `a ${formatDuration(r.seconds * 1000)} plan`
      : `${spec.rollout!.loaded!.document.metadata.name}'s ${r.plan} plan (the longest ${formatDuration(r.seconds * 1000)})`;
  const lines = [
    `${name}: ${runs} runs of ${plan} at ${spec.traffic.rate} req/s — ` +
      (r.canaryIsWorse
        ? r.onset
          ? `the canary goes bad at ${formatDuration(r.onset * 1000)}`
          : 'the canary is bad from the start'
        : 'nothing is wrong with the canary') +
      ` (${(ms / 1000).toFixed(1)} s)`,
  ];
  const first = r.plan === 'steps' ? 'template' : 'rollout';
  const header = r.canaryIsWorse
    ? [first, 'caught', 'missed', 'paused', 'median', 'p90', 'extra errors']
    : [first, 'false rollbacks', 'paused', 'promoted'];
  const rows = r.templates.map((t) => {
    const pct = (n: number) => `${((100 * n) / t.runs).toFixed(1)}%`;
    if (!r.canaryIsWorse) return [t.name, `${pct(t.rollbacks)} (${t.rollbacks})`, pct(t.pauses), pct(t.promotions)];
    const time = (s?: number) => (s === undefined ? '—' : formatSeconds(s));
    return [
      t.name,
      pct(t.rollbacks),
      pct(t.runs - t.rollbacks - t.pauses),
      pct(t.pauses),
      time(t.timeToRollback?.median),
      time(t.timeToRollback?.p90),
      t.extraErrors.toFixed(1),
    ];
  });
  if (r.limit)
    rows.push([
      'limit (any test)',
      '',
      '',
      '',
      `${formatSeconds(r.limit.seconds)} (mean)`,
      '',
      r.limit.extraErrors.toFixed(1),
    ]);
  const k = r.keyLimit;
  if (k)
    rows.push([
      'limit (keys)',
      '',
      '',
      '',
      k.seconds === undefined ? 'none' : `${formatSeconds(k.seconds)} (mean)`,
      '',
      `${k.keys.toFixed(1)} failing keys of ${k.carriers}`,
    ]);
  lines.push(...table([header, ...rows]));
  for (const t of r.templates) if (t.example) lines.push(`  e.g. ${t.name}: ${t.example}`);
  return lines.join('\n');
}

function formatSeconds(s: number): string {
  return s < 10 ? `${s.toFixed(1)} s` : s < 600 ? `${Math.round(s)} s` : `${(s / 60).toFixed(1)} min`;
}
