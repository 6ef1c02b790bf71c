/**
 * kanari's CustomResourceDefinitions: `rollouts.kanari.dev` and
 * `analysistemplates.kanari.dev`. Each OpenAPI schema is generated from the zod schema the
 * operator validates with (`kubernetesRolloutSpec`, `analysisTemplateSpec`), so `kubectl
 * apply` and the operator accept the same shapes. The API server accepts only structural
 * schemas (every node typed, no $ref, no `additionalProperties` beside `properties`,
 * unions in a few fixed forms), so the generated one is rewritten here into that subset;
 * what it cannot say (exactly one of several keys, a valid duration, a cross-field rule)
 * the operator checks with zod and reports in the Rollout's status.
 */
import { z } from 'zod';
import { API_VERSION } from '../config/schemas/common.js';
import { analysisTemplateSpec } from '../config/schemas/analysis.js';
import { kubernetesRolloutSpec } from '../config/schemas/kubernetes.js';
import type { KubeObject } from './api.js';

export const CRD_GROUP = API_VERSION.split('/')[0]!;
export const CRD_VERSION = API_VERSION.split('/')[1]!;
export const CRD_NAME = `rollouts.${CRD_GROUP}`;
export const TEMPLATE_CRD_NAME = `analysistemplates.${CRD_GROUP}`;

/** A node of a structural OpenAPI v3 schema (the part of JSON Schema Kubernetes keeps). */
export type StructuralSchema = { [key: string]: unknown };

/** Keywords a structural schema may carry over unchanged. */
const KEPT = new Set([
  'type',
  'description',
  'default',
  'enum',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'uniqueItems',
  'required',
]);

/**
 * Rewrites a JSON Schema (as zod emits it) into a structural one: `$ref`s inlined,
 * `const` as a one-value `enum`, records as `additionalProperties: {schema}`, the
 * `additionalProperties: false` of strict objects dropped (the API server prunes unknown
 * fields instead), an integer-or-string union as `x-kubernetes-int-or-string`, and any
 * other union or untyped node kept whole with `x-kubernetes-preserve-unknown-fields`.
 * Keywords Kubernetes does not check (`format`, `propertyNames`) are dropped.
 */
export function toStructural(node: unknown, defs: Record<string, unknown> = {}, depth = 0): StructuralSchema {
  if (depth > 64) throw new Error('schema nests too deeply to inline (a recursive type?)');
  if (node === null || typeof node !== 'object') return { 'x-kubernetes-preserve-unknown-fields': true };
  const n = node as Record<string, unknown>;
  const ref = n.$ref;
  if (typeof ref === 'string') {
    const target = ref.startsWith('#/$defs/') ? defs[ref.slice('#/$defs/'.length)] : undefined;
    if (target === undefined) throw new Error(`cannot inline ${ref}`);
    return toStructural(target, defs, depth + 1);
  }
  const union = (n.anyOf ?? n.oneOf) as unknown[] | undefined;
  if (Array.isArray(union)) return unionOf(n, union, defs, depth);
  const out: StructuralSchema = {};
  for (const [key, value] of Object.entries(n)) if (KEPT.has(key)) out[key] = value;
  if ('const' in n) out.enum = [n.const];
  // JSON Schema 2020 (zod's) gives an exclusive bound as a number; OpenAPI v3.0 (Kubernetes') as a bound and a flag.
  for (const [bound, flag] of [
    ['minimum', 'exclusiveMinimum'],
    ['maximum', 'exclusiveMaximum'],
  ] as const)
    if (typeof n[flag] === 'number') {
      out[bound] = n[flag];
      out[flag] = true;
    }
  if (n.type === 'object') {
    const props = n.properties as Record<string, unknown> | undefined;
    if (props && Object.keys(props).length > 0) {
      out.properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, toStructural(v, defs, depth + 1)]));
    } else if (n.additionalProperties && typeof n.additionalProperties === 'object') {
      out.additionalProperties = toStructural(n.additionalProperties, defs, depth + 1);
    } else if (n.additionalProperties !== false) {
      out['x-kubernetes-preserve-unknown-fields'] = true;
    }
  }
  if (n.type === 'array') out.items = toStructural(n.items, defs, depth + 1);
  if (out.type === undefined) return withoutType(out);
  return out;
}

/** `type: integer | string` has a form of its own; any other union keeps its value unchecked (zod checks it). */
function unionOf(
  n: Record<string, unknown>,
  union: unknown[],
  defs: Record<string, unknown>,
  depth: number,
): StructuralSchema {
  const types = union.map((u) => toStructural(u, defs, depth + 1).type);
  const base: StructuralSchema = {};
  if (typeof n.description === 'string') base.description = n.description;
  if ('default' in n) base.default = n.default;
  const intOrString =
    types.length === 2 && types.includes('string') && types.some((t) => t === 'integer' || t === 'number');
  if (intOrString) return { ...base, 'x-kubernetes-int-or-string': true };
  if (types.every((t) => t === types[0]) && types[0] === 'object')
    return { ...base, type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  return { ...base, 'x-kubernetes-preserve-unknown-fields': true };
}

/** An untyped node may stand only as "anything": the value checks that assume a type go with it. */
function withoutType(out: StructuralSchema): StructuralSchema {
  const kept: StructuralSchema = { 'x-kubernetes-preserve-unknown-fields': true };
  if (out.description !== undefined) kept.description = out.description;
  if (out.default !== undefined) kept.default = out.default;
  return kept;
}

/** A zod schema's input shapes as a structural schema: what `kubectl apply` is told a resource's spec may be. */
export function structuralSchemaOf(schema: z.ZodType): StructuralSchema {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return toStructural(json, (json.$defs ?? {}) as Record<string, unknown>);
}

/** The Rollout's spec as a structural schema, generated from `kubernetesRolloutSpec`. */
export function rolloutSpecSchema(): StructuralSchema {
  return structuralSchemaOf(kubernetesRolloutSpec);
}

interface CustomKind {
  plural: string;
  kind: string;
  shortNames?: string[];
  categories: string[];
  description: string;
  spec: StructuralSchema;
  /** A status subresource the operator writes, kept whole (its shape is kanari's, versioned with kanari). */
  status?: true;
  columns: { name: string; type: string; jsonPath: string; description?: string }[];
}

/** One namespaced kind of kanari's API group, at its one version, ready for `kubectl apply`. */
function customResourceDefinition(k: CustomKind): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${CRD_GROUP}`, labels: { 'app.kubernetes.io/managed-by': 'kanari' } },
    spec: {
      group: CRD_GROUP,
      scope: 'Namespaced',
      names: {
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        kind: k.kind,
        listKind: `${k.kind}List`,
        ...(k.shortNames ? { shortNames: k.shortNames } : {}),
        categories: k.categories,
      },
      versions: [
        {
          name: CRD_VERSION,
          served: true,
          storage: true,
          ...(k.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: k.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: k.description,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: k.spec,
                ...(k.status ? { status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } : {}),
              },
            },
          },
        },
      ],
    },
  };
}

/** The Rollout CustomResourceDefinition. */
export function rolloutCrd(): KubeObject {
  return customResourceDefinition({
    plural: 'rollouts',
    kind: 'Rollout',
    // `ro` as Argo Rollouts has it would clash when both are installed; `kro` does not.
    shortNames: ['kro'],
    categories: ['kanari', 'all'],
    description: 'A release of a Deployment through a traffic router, judged step by step (kanari).',
    spec: rolloutSpecSchema(),
    status: true,
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Where the rollout is' },
      { name: 'Weight', type: 'integer', jsonPath: '.status.weight', description: "The canary's share (%)" },
      { name: 'Step', type: 'string', jsonPath: '.status.step', description: 'The current step of the plan' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

/**
 * The AnalysisTemplate CustomResourceDefinition: the same spec as an AnalysisTemplate
 * document of a standalone file (`analysisTemplateSpec`), named by Rollouts of its
 * namespace. No status: the operator only reads templates. No short name: Argo Rollouts'
 * kind of the same name would make one ambiguous.
 */
export function analysisTemplateCrd(): KubeObject {
  return customResourceDefinition({
    plural: 'analysistemplates',
    kind: 'AnalysisTemplate',
    // Not in `all`: a template is configuration, as a ConfigMap is.
    categories: ['kanari'],
    description: 'How kanari judges a release: a threshold, sequential, Kayenta or series judge (kanari).',
    spec: structuralSchemaOf(analysisTemplateSpec),
    columns: [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
  });
}
