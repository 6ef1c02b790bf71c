/**
 * Whether an analysis template can judge a rollout at all: its test must be valid for what
 * the rollout's router assigns to a version (a request, a connection, a user), and it must
 * read numbers the rollout's world has. `checkRolloutTemplates` (checks.ts) asks this of
 * every template a rollout names, so a test that could roll back a good release, or one
 * with nothing to read, is refused at load with its line.
 */
import { assignmentUnit, describeSticky, KUBERNETES } from './capabilities.js';
import { isKubernetesRollout, type AnyRolloutDocument } from './rollout-mode.js';
import type { AnalysisTemplateSpec } from './schemas/analysis.js';
import { routerNameOf, type KubernetesRolloutDocument } from './schemas/kubernetes.js';
import type { RolloutDocument } from './schemas/rollout.js';
import { providersOf } from './templates.js';

/** Why template `name` cannot judge `rollout`, or undefined when it can. */
export function whyTemplateCannotJudge(
  rollout: AnyRolloutDocument,
  name: string,
  template: AnalysisTemplateSpec | undefined,
): string | undefined {
  if (!template) return undefined;
  if (!isKubernetesRollout(rollout)) return requestsUnderKeys(rollout, name, template);
  return requestsUnderConnections(rollout, name, template) ?? nothingToRead(rollout, name, template);
}

/**
 * The router assigns users to versions by key, and the template would count requests (it
 * counts from Prometheus, which has no user dimension, or asks for unit: requests). One
 * user's requests are not independent — a retrying client sends its own errors in bursts,
 * all to one version — so a request-level test could roll back a good release.
 */
function requestsUnderKeys(
  { spec, metadata }: RolloutDocument,
  name: string,
  template: AnalysisTemplateSpec,
): string | undefined {
  const sequential = template.sequential;
  if (!sequential || assignmentUnit(spec) === 'request') return undefined;
  const counts = sequential.source?.prometheus
    ? 'counts requests from Prometheus, which has no user dimension'
    : sequential.unit === 'requests'
      ? 'asks for unit: requests'
      : undefined;
  if (!counts && sequential.promotion.noWorseThan !== undefined)
    return `template "${name}" asks for promotion.noWorseThan, which cannot be shown counting users, and this rollout's router keeps each user on one version (${describeSticky(spec, metadata.name)}); ask for promotion.minUsers instead`;
  if (!counts) return undefined;
  return `template "${name}" ${counts}, but this rollout's router keeps each user on one version (${describeSticky(spec, metadata.name)}), so one user's requests are not independent and a request-level test could roll back a good release; count from kanari's own router (drop sequential.source and unit), or give every request its own version with sticky: { perRequest: true }`;
}

/**
 * The same argument for a router that assigns connections (replicas: kube-proxy picks a
 * pod per connection, and a keep-alive or HTTP/2 client sends everything down one). On
 * Kubernetes the sequential test counts requests from Prometheus, which knows neither
 * users nor connections, so no unit it could count is the one randomised.
 */
function requestsUnderConnections(
  rollout: KubernetesRolloutDocument,
  name: string,
  template: AnalysisTemplateSpec,
): string | undefined {
  const router = KUBERNETES[routerNameOf(rollout.spec.trafficRouting)];
  if (!template.sequential || router.assignment !== 'connection') return undefined;
  return `template "${name}" is the sequential test, which counts requests from Prometheus, but the ${router.name} router sends whole connections to a version (kube-proxy keeps a keep-alive or HTTP/2 client on one pod), so one client's requests are not independent and a request-level test could roll back a good release; judge this rollout with a threshold template (limits on Prometheus queries), or route with gatewayAPI, istio or nginx, which give each request its own version`;
}

/** A Kubernetes Rollout has no kanari router: what would read its counters has nothing to read. */
function nothingToRead(
  rollout: KubernetesRolloutDocument,
  name: string,
  template: AnalysisTemplateSpec,
): string | undefined {
  const sequential = template.sequential;
  if (sequential) {
    if (sequential.source) return undefined;
    if (!rollout.spec.metrics)
      return `template "${name}" counts requests, and on Kubernetes there is no kanari router to count them: set spec.metrics.prometheus (the Prometheus that counts requests per version), or give the template a sequential.source`;
    if (sequential.unit === 'users')
      return `template "${name}" asks for unit: users, but on Kubernetes the counts come from Prometheus (spec.metrics), which has no user dimension; use unit: auto or requests`;
    return undefined;
  }
  if (!providersOf(template).includes('builtin')) return undefined;
  return `template "${name}" reads the builtin provider (kanari's own router's counters), and a Kubernetes Rollout is not carried by kanari's router: write an AnalysisTemplate whose metrics read prometheus or web`;
}
