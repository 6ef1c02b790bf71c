/** `kanari k8s manifests` and `kanari k8s alerts`: what Kubernetes mode installs and alerts on, printed as YAML. */
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { ConfigError } from '../config/errors.js';
import { loadDocuments } from '../config/kinds.js';
import { isKubernetesRollout, type AnyRolloutDocument } from '../config/rollout-mode.js';
import type { AnalysisTemplateDocument } from '../config/schemas/analysis.js';
import { k8sLabel } from '../config/schemas/kubernetes.js';
import { canaryAlerts } from '../kube/alerts.js';
import type { KubeObject } from '../kube/api.js';
import { installManifests } from '../kube/manifests.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'print what installs kanari on a cluster (manifests), or alert rules for a rollout (alerts)';

const HELP = `Usage: kanari k8s manifests [--namespace NS] [--image IMAGE]
       kanari k8s alerts -f ROLLOUT.yaml

  manifests   the Rollout CRD, the operator's ServiceAccount, RBAC (least privilege) and
              Deployment, as YAML: kanari k8s manifests | kubectl apply -f -
                --namespace NS   watch only NS, with a Role there (default: every namespace,
                                 the operator in kanari-system)
                --image IMAGE    the operator's image (default ghcr.io/kanari-dev/kanari:VERSION,
                                 a placeholder: no image is published yet)
  alerts      a PrometheusRule with alerts matching a Kubernetes Rollout's analysis (threshold
              metrics on Prometheus, and the default judge's error rate and latency per version)`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'manifests') return manifests(rest);
  if (sub === 'alerts') return alerts(rest);
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    console.log(HELP);
    return EXIT.ok;
  }
  throw new UsageError(`k8s: unknown subcommand "${sub}" (manifests or alerts)`);
}

function printYaml(objects: KubeObject[]): void {
  process.stdout.write(objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n'));
}

function manifests(argv: string[]): number {
  const { values, positionals } = parseCommandArgs(
    'k8s manifests',
    argv,
    { namespace: { type: 'string', short: 'n' }, image: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (positionals.length > 0) throw new UsageError(`k8s manifests: takes no arguments (got ${positionals.join(' ')})`);
  if (values.namespace !== undefined && !k8sLabel.safeParse(values.namespace).success)
    throw new UsageError(
      `k8s manifests: --namespace must be a namespace name (got ${JSON.stringify(values.namespace)})`,
    );
  // An image reference: no spaces, no YAML-significant start; the registry checks the rest.
  if (values.image !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/.test(values.image))
    throw new UsageError(`k8s manifests: --image must be an image reference (got ${JSON.stringify(values.image)})`);
  printYaml(installManifests({ version: packageVersion(), image: values.image, namespace: values.namespace }));
  return EXIT.ok;
}

function alerts(argv: string[]): number {
  const { values, positionals } = parseCommandArgs(
    'k8s alerts',
    argv,
    { file: { type: 'string', short: 'f' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  const file = values.file ?? positionals[0];
  if (!file || positionals.length > (values.file ? 0 : 1))
    throw new UsageError('k8s alerts: name one file with -f ROLLOUT.yaml');
  const docs = loadDocuments(file);
  const rollouts = docs.filter((d) => d.kind === 'Rollout').map((d) => d.value as AnyRolloutDocument);
  const kubernetes = rollouts.filter(isKubernetesRollout);
  if (kubernetes.length === 0)
    throw new ConfigError([
      {
        file,
        line: 1,
        col: 1,
        path: '',
        message: `holds no Kubernetes Rollout (one with spec.workloadRef)${rollouts.length > 0 ? '; its Rollouts are standalone' : ''}`,
      },
    ]);
  const templates = Object.fromEntries(
    docs
      .filter((d) => d.kind === 'AnalysisTemplate')
      .map((d) => [(d.value as AnalysisTemplateDocument).metadata.name, (d.value as AnalysisTemplateDocument).spec]),
  );
  const results = kubernetes.map((r) => canaryAlerts(r, templates));
  for (const skipped of results.flatMap((r) => r.skipped)) console.error(`kanari: no alert for ${skipped}`);
  const made = results.filter((r) => ruleCount(r.rule) > 0);
  // A PrometheusRule without rules would look like monitoring and watch nothing.
  if (made.length === 0) {
    const skipped = results.some((r) => r.skipped.length > 0);
    console.error(
      `kanari: ${file}: no alert could be made from ${skipped ? 'this analysis (the reasons are above)' : 'it: its Rollouts name no analysis'}`,
    );
    return EXIT.failed;
  }
  printYaml(made.map((r) => r.rule));
  return EXIT.ok;
}

const ruleCount = (rule: KubeObject) =>
  (rule.spec as { groups: { rules: unknown[] }[] }).groups.reduce((n, g) => n + g.rules.length, 0);

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
