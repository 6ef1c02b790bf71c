/**
 * The AnalysisTemplate CRD: its schema is generated from the zod schema the operator
 * validates templates with, so every AnalysisTemplate of the examples is accepted by both,
 * and what zod refuses for its shape the API server refuses too.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDocuments } from '../../src/config/load.js';
import { analysisTemplateDocument } from '../../src/config/schemas/analysis.js';
import { analysisTemplateCrd, TEMPLATE_CRD_NAME } from '../../src/kube/crd.js';
import { validateObject } from '../helpers/kube/models.js';
import { structuralErrors, structuralViolations } from '../helpers/kube/structural.js';

const crd = analysisTemplateCrd() as unknown as {
  metadata: { name: string };
  spec: {
    names: Record<string, unknown>;
    versions: { schema: { openAPIV3Schema: Record<string, unknown> }; subresources?: unknown }[];
  };
};
const version = crd.spec.versions[0]!;
const schema = version.schema.openAPIV3Schema;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : [],
  );
}

/** Every AnalysisTemplate document of the examples, standalone and Kubernetes alike. */
const exampleTemplates = yamlFiles('examples').flatMap((file) =>
  parseDocuments(readFileSync(file, 'utf8'), file)
    .map((d) => d.value as Record<string, unknown>)
    .filter((v) => v?.kind === 'AnalysisTemplate')
    .map((value) => ({ file, value })),
);

function answers(value: unknown): { crd: string[]; zod: boolean } {
  const { metadata: _, ...rest } = value as Record<string, unknown>;
  return { crd: structuralErrors(schema, rest), zod: analysisTemplateDocument.safeParse(value).success };
}

const base = {
  apiVersion: 'kanari.dev/v1alpha1',
  kind: 'AnalysisTemplate',
  metadata: { name: 'success' },
  spec: {
    threshold: {
      metrics: [
        {
          name: 'success-rate',
          provider: { prometheus: { address: 'http://prometheus:9090', preset: 'istio/success-rate' } },
          interval: '30s',
          successCondition: 'result >= 0.99',
        },
      ],
    },
  },
};
const metric = (patch: Record<string, unknown>) => ({
  ...base,
  spec: { threshold: { metrics: [{ ...base.spec.threshold.metrics[0], ...patch }] } },
});

describe('the AnalysisTemplate CRD', () => {
  it('is namespaced kanari.dev/v1alpha1 analysistemplates, without a status or a short name', () => {
    assert.equal(crd.metadata.name, TEMPLATE_CRD_NAME);
    assert.equal(TEMPLATE_CRD_NAME, 'analysistemplates.kanari.dev');
    assert.deepEqual(crd.spec.names, {
      plural: 'analysistemplates',
      singular: 'analysistemplate',
      kind: 'AnalysisTemplate',
      listKind: 'AnalysisTemplateList',
      categories: ['kanari'],
    });
    assert.equal(version.subresources, undefined);
    assert.equal((schema.properties as Record<string, unknown>).status, undefined);
  });

  it('has a structural schema at every node', () => {
    assert.deepEqual(structuralViolations(schema, 'analysistemplate'), []);
  });

  it('is a valid CustomResourceDefinition by the official schema', () => validateObject(analysisTemplateCrd()));

  it('has examples to check, a Kubernetes one among them', () => {
    assert.ok(exampleTemplates.length >= 8, `${exampleTemplates.length} found`);
    assert.ok(exampleTemplates.some((e) => e.file.startsWith('examples/kubernetes/')));
  });
  for (const { file, value } of exampleTemplates)
    it(`accepts ${file}'s ${(value.metadata as { name: string }).name}, as zod does`, () =>
      assert.deepEqual(answers(value), { crd: [], zod: true }));

  const refusedByBoth: [string, unknown][] = [
    ['no spec', { ...base, spec: undefined }],
    ['a failure limit in words', metric({ failureLimit: 'two' })],
    ['a negative failure limit', metric({ failureLimit: -1 })],
    ['an unknown provider field', metric({ provider: { prometheus: { address: 'http://p:9090', promql: 'up' } } })],
    ['an unknown preset', metric({ provider: { prometheus: { address: 'http://p:9090', preset: 'linkerd/x' } } })],
    ['no metrics', { ...base, spec: { threshold: { metrics: [] } } }],
    ['an unknown judge', { ...base, spec: { bayesian: {} } }],
  ];
  for (const [what, value] of refusedByBoth)
    it(`refuses ${what}, as zod does`, () => {
      const a = answers(value);
      assert.ok(a.crd.length > 0, 'the CRD accepted it');
      assert.equal(a.zod, false);
    });

  it('leaves to the operator what a structural schema cannot say (a condition that does not parse), which zod refuses', () => {
    assert.deepEqual(answers(metric({ successCondition: 'result >=' })), { crd: [], zod: false });
  });
});
