import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KUBERNETES } from '../../src/config/capabilities.js';
import { rolloutProblems } from '../../src/config/checks.js';
import { loadDocuments } from '../../src/config/kinds.js';
import { analysisTemplateDocument } from '../../src/config/schemas/analysis.js';
import { kubernetesRolloutDocument } from '../../src/config/schemas/kubernetes.js';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { KUBERNETES_ROUTERS } from '../../src/config/schemas/kubernetes.js';
import { errorsOf, file } from '../helpers/config.js';

const THRESHOLD = `---
apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: limits }
spec:
  threshold:
    metrics:
      - name: success-rate
        provider: { prometheus: { address: http://prometheus:9090, query: 'vector(1)' } }
        interval: 1m
        successCondition: result >= 0.99
`;

/** A Kubernetes Rollout routed by `routing`, with `extra` spec lines and `steps` (replicas has no proxy of its own: its metrics name the one that counts). */
function rollout(routing: string, steps: string[], extra = '', after = ''): string {
  return file(rolloutText(routing, steps, extra, after));
}

/** Replicas counts nothing and the Gateway API has several implementations: those name who counts (Istio here). */
function presetFor(routing: string): string {
  return routing === REPLICAS || routing.includes('gatewayAPI') ? ', preset: istio' : '';
}

function rolloutText(routing: string, steps: string[], extra = '', after = ''): string {
  return `apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: shop, namespace: prod }
spec:
${extra}  workloadRef: { name: shop }
  service: { name: shop, port: 80 }
  trafficRouting: ${routing}
  metrics: { prometheus: { address: http://prometheus.monitoring:9090${presetFor(routing)} } }
  strategy:
    canary:
      steps:
${steps.map((s) => `        - ${s}`).join('\n')}
${after}`;
}

const GATEWAY = '{ gatewayAPI: { httpRoute: shop } }';
const REPLICAS = '{ replicas: {} }';

describe('a Kubernetes Rollout', () => {
  it('loads by its own schema when spec.workloadRef is set, with the defaults filled in', () => {
    const [doc] = loadDocuments(rollout(GATEWAY, ['setWeight: 10', 'analysis: { templates: [sequential] }']));
    const spec = (doc!.value as { spec: Record<string, unknown> }).spec;
    assert.deepEqual(spec.workloadRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'shop' });
    assert.equal(spec.progressDeadline, 600_000);
  });

  it('refuses a standalone field, saying the file is a Kubernetes Rollout and why the field has no place', () => {
    assert.deepEqual(errorsOf(rollout(GATEWAY, ['setWeight: 10'], '  listen: 8080\n')), [
      "F:5:3 spec.listen: is a field of a standalone Rollout, and this one is a Kubernetes Rollout (it has spec.workloadRef): users reach spec.service through the cluster's router, named in spec.trafficRouting",
    ]);
    const [line] = errorsOf(rollout(GATEWAY, ['setWeight: 10'], '  canary: { upstreams: [http://a:1] }\n'));
    assert.match(line!, /^F:5:3 spec\.canary: is a field of a standalone Rollout.*pod template of the Deployment/);
  });

  it('refuses a Kubernetes field in a standalone Rollout, saying it is standalone and how to make it a Kubernetes one', () => {
    const path = file(`apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: shop }
spec:
  listen: 8080
  trafficRouting: { replicas: {} }
  stable: { version: v1, upstreams: [http://127.0.0.1:9001] }
  canary: { upstreams: [http://127.0.0.1:9002] }
  strategy: { canary: { steps: [{ setWeight: 10 }] } }
`);
    assert.deepEqual(errorsOf(path), [
      'F:6:3 spec.trafficRouting: is a field of a Kubernetes Rollout, and this one is standalone (it has no spec.workloadRef): name the Deployment to release in spec.workloadRef to run it on Kubernetes, or drop trafficRouting',
    ]);
  });

  it('refuses, at its line, a step the router it names cannot do', () => {
    assert.deepEqual(
      errorsOf(rollout('{ nginx: { ingress: shop } }', ['setWeight: 10', 'setMirror: { percent: 5 }'])),
      [
        'F:13:22 spec.strategy.canary.steps[1].setMirror: the nginx router cannot do mirroring (it supports: weights, match)',
      ],
    );
    const [line] = errorsOf(rollout(REPLICAS, ["setHeaderRoute: { match: { header: x-canary, value: 'yes' } }"]));
    assert.match(
      line!,
      /^F:12:27 .*setHeaderRoute: the replicas router cannot do header and cookie routes \(it supports: weights\)$/,
    );
    assert.match(
      errorsOf(rollout(GATEWAY, ['setWeight: 10'], '  sticky: { cookie: u }\n'))[0]!,
      /the gatewayapi router cannot do sticky users/,
    );
  });

  it('takes every step the Gateway API and Istio routers can do', () => {
    const steps = [
      'baseline: {}',
      'setWeight: 10',
      'setMirror: { percent: 20 }',
      "setHeaderRoute: { match: { cookie: beta, value: '1' } }",
    ];
    loadDocuments(rollout(GATEWAY, steps));
    loadDocuments(rollout('{ istio: { virtualService: { name: shop }, destinationRule: { name: shop } } }', steps));
  });

  it('refuses the sequential test behind a router that assigns connections, and says what to use instead', () => {
    const [line] = errorsOf(rollout(REPLICAS, ['setWeight: 20', 'analysis: { templates: [sequential] }']));
    assert.match(
      line!,
      /^F:13:35 spec\.strategy\.canary\.steps\[1\]\.analysis\.templates\[0\]: template "sequential" is the sequential test, which counts requests from Prometheus, but the replicas router sends whole connections to a version/,
    );
    assert.match(line!, /judge this rollout with a threshold template/);
    loadDocuments(rollout(REPLICAS, ['setWeight: 20', 'analysis: { templates: [limits] }'], '', THRESHOLD));
  });

  it('refuses templates with nothing to read on Kubernetes: counts without spec.metrics, the builtin provider', () => {
    const noMetrics = rolloutText(GATEWAY, ['analysis: { templates: [sequential] }']).replace(/ {2}metrics:.*\n/, '');
    assert.match(
      errorsOf(file(noMetrics))[0]!,
      /template "sequential" counts requests, and on Kubernetes there is no kanari router to count them: set spec\.metrics\.prometheus/,
    );
    assert.match(
      errorsOf(rollout(GATEWAY, ['analysis: { templates: [threshold] }']))[0]!,
      /template "threshold" reads the builtin provider/,
    );
  });

  it("says an unknown template is, on a cluster, a resource of the Rollout's namespace, and takes one with a namespace", () => {
    assert.match(
      errorsOf(rollout(REPLICAS, ['analysis: { templates: [limitz] }'], '', THRESHOLD))[0]!,
      /unknown analysis template "limitz" \(did you mean "limits"\?; put an AnalysisTemplate in the same file to add one, as on the cluster it is a resource in the Rollout's namespace\)/,
    );
    const namespaced = THRESHOLD.replace('metadata: { name: limits }', 'metadata: { name: limits, namespace: prod }');
    loadDocuments(rollout(REPLICAS, ['analysis: { templates: [limits] }'], '', namespaced));
  });

  it('answers a malformed spec with located errors, never a crash', () => {
    for (const spec of [
      'null',
      '[]',
      '"text"',
      '{ workloadRef: null }',
      '{ workloadRef: [], listen: [] }',
      '{ workloadRef: { name: 7 }, trafficRouting: { replicas: 3 } }',
    ])
      assert.ok(
        errorsOf(file(`apiVersion: kanari.dev/v1alpha1\nkind: Rollout\nmetadata: { name: a }\nspec: ${spec}\n`))
          .length > 0,
        spec,
      );
  });

  it('has capabilities declared for every Kubernetes router the schema knows', () => {
    assert.deepEqual(Object.keys(KUBERNETES).sort(), [...KUBERNETES_ROUTERS].sort());
    for (const name of KUBERNETES_ROUTERS) assert.equal(KUBERNETES[name].name, name);
  });

  it('gives the operator, which reads a resource and not a file, the same problems with their paths', () => {
    const resource = (text: string) => kubernetesRolloutDocument.parse(parse(text));
    const replicas = resource(
      rolloutText(REPLICAS, ['setWeight: 20', 'analysis: { templates: [sequential] }', 'setMirror: { percent: 5 }']),
    );
    assert.deepEqual(
      rolloutProblems(replicas).map((p) => [p.path.join('.'), p.message.slice(0, 60)]),
      [
        ['spec.strategy.canary.steps.2.setMirror', 'the replicas router cannot do mirroring (it supports: weight'],
        [
          'spec.strategy.canary.steps.1.analysis.templates.0',
          'template "sequential" is the sequential test, which counts r',
        ],
      ],
    );
    for (const router of ['gatewayapi', 'istio', 'nginx', 'replicas']) {
      // The example's AnalysisTemplates are, on a cluster, resources the operator reads beside it.
      const [rollout, ...templates] = readFileSync(`examples/kubernetes/${router}/rollout.yaml`, 'utf8').split(
        /^---$/m,
      );
      const given = Object.fromEntries(
        templates.map((t) => analysisTemplateDocument.parse(parse(t))).map((t) => [t.metadata.name, t.spec]),
      );
      assert.deepEqual(rolloutProblems(resource(rollout!), given), [], router);
    }
  });
});
