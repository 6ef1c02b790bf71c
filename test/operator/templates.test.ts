/**
 * Which templates a Kubernetes Rollout gets from the AnalysisTemplate resources of its
 * namespace: a resource for each name not built in, read as a file's template is; a
 * built-in's name is the built-in's, and a resource that would shadow it is refused; a
 * resource of any shape a user may have written is a reason, never a crash.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubernetesRolloutDocument } from '../../src/config/schemas/kubernetes.js';
import { BUILTIN_TEMPLATES } from '../../src/config/templates.js';
import type { KubeObject } from '../../src/kube/api.js';
import { isIdle, pinnedLookup, resolveTemplates, type TemplateLookup } from '../../src/operator/templates.js';
import { initialStatus } from '../../src/rollout/machine.js';
import { doc } from '../helpers/engine-world.js';

const rollout = (...names: string[]) =>
  kubernetesRolloutDocument.parse({
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      workloadRef: { name: 'web' },
      service: { name: 'web' },
      trafficRouting: { replicas: {} },
      strategy: { canary: { steps: [{ setWeight: 50 }, { analysis: { templates: names } }] } },
    },
  });

const threshold = {
  threshold: {
    metrics: [
      {
        name: 'success',
        provider: { prometheus: { address: 'http://p:9090', preset: 'istio/success-rate' } },
        successCondition: 'result >= 0.99',
      },
    ],
  },
};

const resource = (name: string, spec: unknown, namespace = 'shop'): KubeObject => ({
  apiVersion: 'kanari.dev/v1alpha1',
  kind: 'AnalysisTemplate',
  metadata: { name, namespace, uid: 'u-1', resourceVersion: '7', managedFields: [] },
  spec,
});

const lookupOf =
  (...objects: KubeObject[]): TemplateLookup =>
  (namespace, name) =>
    Promise.resolve(objects.find((o) => o.metadata.namespace === namespace && o.metadata.name === name));

const problemOf = async (names: string[], lookup: TemplateLookup) => {
  const r = await resolveTemplates(rollout(...names), {}, lookup);
  assert.ok('problem' in r, `resolved: ${JSON.stringify(r)}`);
  return r.problem;
};

describe("a Kubernetes Rollout's AnalysisTemplates", () => {
  it('reads a template from its resource in the Rollout’s namespace, defaults filled as in a file', async () => {
    const r = await resolveTemplates(rollout('success'), {}, lookupOf(resource('success', threshold)));
    assert.ok('templates' in r);
    const metric = r.templates.success!.threshold!.metrics[0]!;
    assert.equal(metric.failureLimit, 0);
    assert.equal(metric.provider.prometheus!.timeout, 5000);
  });

  it('takes a built-in by its name without any resource, and the Rollout’s own variant of it first', async () => {
    const own = {
      ...BUILTIN_TEMPLATES.sequential!,
      sequential: { ...BUILTIN_TEMPLATES.sequential!.sequential!, alpha: 0.01 },
    };
    const r = await resolveTemplates(rollout('sequential', 'threshold'), { sequential: own }, lookupOf());
    assert.deepEqual(r, { templates: { sequential: own, threshold: BUILTIN_TEMPLATES.threshold }, sources: {} });
  });

  it('takes a built-in even when templates cannot be read (their CRD not installed yet)', async () => {
    const r = await resolveTemplates(rollout('threshold'), {}, () => Promise.reject(new Error('404 no such kind')));
    assert.deepEqual(r, { templates: { threshold: BUILTIN_TEMPLATES.threshold }, sources: {} });
  });

  it('refuses a missing template, naming the namespace and the built-ins', async () => {
    const other = resource('success', threshold, 'payments');
    assert.equal(
      await problemOf(['success'], lookupOf(other)),
      'no AnalysisTemplate shop/success: create it (kubectl apply), or name a built-in template (sequential, threshold, kayenta, series)',
    );
  });

  it('refuses a template it cannot read, with the reason', async () => {
    const problem = await problemOf(['success'], () => Promise.reject(new Error('connect ECONNREFUSED')));
    assert.match(problem, /^cannot read AnalysisTemplate shop\/success: .*ECONNREFUSED/);
  });

  it('refuses a resource that would shadow a built-in', async () => {
    const problem = await problemOf(['threshold'], lookupOf(resource('threshold', threshold)));
    assert.match(problem, /^AnalysisTemplate shop\/threshold has the name of a built-in template/);
  });

  it('refuses a Kayenta config named by path: the operator reads no files', async () => {
    const kayenta = { kayenta: { config: 'canary-config.json', metrics: {} } };
    const problem = await problemOf(['ka'], lookupOf(resource('ka', kayenta)));
    assert.match(problem, /names its Kayenta config by path \(canary-config\.json\).*inline/);
  });

  it('reads specs pinned in a status as it reads resources, so one edited into any shape is a reason', async () => {
    const pinned = pinnedLookup({ success: threshold, bad: 5 });
    const r = await resolveTemplates(rollout('success'), {}, pinned);
    assert.ok('templates' in r && r.templates.success?.threshold);
    assert.deepEqual(r.sources, { success: threshold });
    assert.match(await problemOf(['bad'], pinned), /^AnalysisTemplate shop\/bad is not valid: spec: /);
    assert.match(await problemOf(['gone'], pinned), /^no AnalysisTemplate shop\/gone/);
  });

  const hostile: [string, unknown, RegExp][] = [
    ['no spec', undefined, /^AnalysisTemplate shop\/bad is not valid: spec: /],
    ['a spec that is a string', 'threshold', /is not valid: spec: /],
    ['two judges', { ...threshold, sequential: {} }, /is not valid: spec: .*exactly one/i],
    [
      'a condition that does not parse',
      { threshold: { metrics: [{ ...threshold.threshold.metrics[0], successCondition: 'result >=' }] } },
      /is not valid: spec\.threshold\.metrics\[0\]\.successCondition: /,
    ],
    [
      'an unknown query variable',
      {
        threshold: {
          metrics: [{ name: 'q', provider: { prometheus: { address: 'http://p:9090', query: 'up{pod="{{pod}}"}' } } }],
        },
      },
      /spec\.threshold\.metrics\[0\]\.provider\.prometheus\.query: unknown variable \{\{pod\}\}/,
    ],
    ['a deeply nested array', { threshold: { metrics: [[[[[]]]]] } }, /is not valid: spec\.threshold\.metrics\[0\]/],
  ];
  for (const [what, spec, expected] of hostile)
    it(`refuses a template with ${what}, saying where`, async () => {
      assert.match(await problemOf(['bad'], lookupOf(resource('bad', spec))), expected);
    });

  it('reads templates again between releases: after one that ended, and after an abort (a person fixes a template and deploys again)', () => {
    const idle = initialStatus(doc([{ setWeight: 20 }]).spec, 1000);
    assert.equal(isIdle(idle), true);
    assert.equal(isIdle({ ...idle, phase: 'Aborted' }), true);
    assert.equal(
      isIdle({ ...idle, phase: 'Paused' }),
      false,
      'a release under way keeps the templates it started with',
    );
    const open = {
      id: 'a1',
      template: 't',
      scope: 'background' as const,
      step: 0,
      verdict: 'Running' as const,
      startedAt: 1,
    };
    assert.equal(isIdle({ ...idle, analyses: [open] }), false, 'nor while an analysis is open');
  });
});
