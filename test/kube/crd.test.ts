import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseDocuments } from '../../src/config/load.js';
import { kubernetesRolloutDocument } from '../../src/config/schemas/kubernetes.js';
import { rolloutCrd, toStructural } from '../../src/kube/crd.js';
import { validateObject } from '../helpers/kube/models.js';
import { structuralErrors, structuralViolations } from '../helpers/kube/structural.js';

const crd = rolloutCrd() as unknown as {
  spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> }; additionalPrinterColumns: unknown[] }[] };
};
const version = crd.spec.versions[0]!;
const schema = version.schema.openAPIV3Schema;
const spec = (schema.properties as Record<string, Record<string, unknown>>).spec!;

const exampleRollouts = readdirSync('examples/kubernetes').map((router) => {
  const file = `examples/kubernetes/${router}/rollout.yaml`;
  return { file, value: parseDocuments(readFileSync(file, 'utf8'), file)[0]!.value };
});

/** The same answer from the CRD's schema (what kubectl apply is told) and from zod (what the operator loads). */
function answers(value: unknown): { crd: string[]; zod: boolean } {
  // The API server checks metadata as ObjectMeta, whatever the CRD says; the schema covers the rest.
  const { metadata: _, ...rest } = value as Record<string, unknown>;
  return { crd: structuralErrors(schema, rest), zod: kubernetesRolloutDocument.safeParse(value).success };
}

const base = exampleRollouts.find((e) => e.file.includes('gatewayapi'))!.value as Record<string, unknown>;
const withSpec = (patch: Record<string, unknown>) => ({
  ...base,
  spec: { ...(base.spec as Record<string, unknown>), ...patch },
});

describe('the Rollout CRD', () => {
  it('has a structural schema at every node', () => {
    assert.deepEqual(structuralViolations(spec), []);
    assert.deepEqual(structuralViolations(schema, 'rollout'), []);
    assert.deepEqual((schema.properties as Record<string, unknown>).status, {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });

  it('is a valid CustomResourceDefinition by the official schema', () => validateObject(rolloutCrd()));

  it('prints phase, weight, step and age, and serves the status as a subresource', () => {
    const columns = version.additionalPrinterColumns as { name: string; type: string; jsonPath: string }[];
    assert.deepEqual(
      columns.map((c) => [c.name, c.type, c.jsonPath]),
      [
        ['Phase', 'string', '.status.phase'],
        ['Weight', 'integer', '.status.weight'],
        ['Step', 'string', '.status.step'],
        ['Age', 'date', '.metadata.creationTimestamp'],
      ],
    );
    assert.deepEqual((version as unknown as { subresources: unknown }).subresources, { status: {} });
  });

  it('has examples to check', () => assert.equal(exampleRollouts.length, 4));
  for (const { file, value } of exampleRollouts)
    it(`accepts ${file}, as zod does`, () => assert.deepEqual(answers(value), { crd: [], zod: true }));

  const refusedByBoth: [string, unknown][] = [
    ['a weight in words', withSpec({ strategy: { canary: { steps: [{ setWeight: 'ten' }] } } })],
    ['a negative replica count', withSpec({ replicas: -1 })],
    ['a port out of range', withSpec({ service: { name: 'checkout', port: 70000 } })],
    ['a StatefulSet as the workload', withSpec({ workloadRef: { kind: 'StatefulSet', name: 'checkout' } })],
    ['an unknown field', withSpec({ listen: 8080 })],
    [
      'an HTTPRoute name that is no Kubernetes name',
      withSpec({ trafficRouting: { gatewayAPI: { httpRoute: 'Check Out' } } }),
    ],
    ['no spec', { ...base, spec: undefined }],
  ];
  for (const [what, value] of refusedByBoth)
    it(`refuses ${what}, as zod does`, () => {
      const a = answers(value);
      assert.ok(a.crd.length > 0, 'the CRD accepted it');
      assert.equal(a.zod, false);
    });

  it('leaves to the operator what a structural schema cannot say (exactly one router), which zod refuses', () => {
    const two = withSpec({ trafficRouting: { gatewayAPI: { httpRoute: 'checkout' }, replicas: {} } });
    assert.deepEqual(answers(two), { crd: [], zod: false });
  });

  it('inlines references, turns const into enum and integer-or-string unions into their own form', () => {
    const out = toStructural(
      {
        type: 'object',
        properties: {
          a: { $ref: '#/$defs/A' },
          b: { const: 'x', type: 'string' },
          c: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
          d: { anyOf: [{ type: 'boolean' }, { type: 'string' }] },
          e: {},
          f: { type: 'object', additionalProperties: { type: 'string' }, propertyNames: { type: 'string' } },
        },
        additionalProperties: false,
      },
      { A: { type: 'integer', format: 'int64' } },
    );
    assert.deepEqual(out, {
      type: 'object',
      properties: {
        a: { type: 'integer' },
        b: { type: 'string', enum: ['x'] },
        c: { 'x-kubernetes-int-or-string': true },
        d: { 'x-kubernetes-preserve-unknown-fields': true },
        e: { 'x-kubernetes-preserve-unknown-fields': true },
        f: { type: 'object', additionalProperties: { type: 'string' } },
      },
    });
  });

  it("writes JSON Schema's numeric exclusive bounds as OpenAPI v3.0's: a minimum with exclusiveMinimum: true", () => {
    assert.deepEqual(toStructural({ type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 }), {
      type: 'number',
      minimum: 0,
      exclusiveMinimum: true,
      maximum: 1,
      exclusiveMaximum: true,
    });
  });

  it('refuses a reference it cannot inline instead of emitting it', () => {
    assert.throws(() => toStructural({ $ref: '#/$defs/Missing' }), /cannot inline #\/\$defs\/Missing/);
  });
});
