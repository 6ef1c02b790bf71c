/**
 * Every field of every fixture replaced in turn by a value of another shape (a number, a
 * string, a list, a map, null): the import either succeeds, with output kanari's schemas
 * accept, or refuses with a located ConfigError — never another exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import { ConfigError } from '../../../src/config/errors.js';
import { DEFAULT_OPTIONS, importFiles } from '../../../src/config/import/index.js';
import { FIXTURES } from './helpers.js';

const HOSTILE: unknown[] = [7, -1, 'x', [], [{}], {}, null];
/** Values tried at each path, taken in turn from HOSTILE, so every shape is tried at many paths in seconds. */
const PER_PATH = 1;
const IMPORTED = /^(Rollout|AnalysisTemplate|ClusterAnalysisTemplate|Canary|MetricTemplate)$/;

type Node = unknown;

/** Paths to every value inside `node` (maps and lists), depth first; not inside pod templates, copied whole. */
function paths(node: Node, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  const inside = (k: string | number, v: Node) => {
    out.push([...at, k]);
    if (k !== 'template' && k !== 'containers') out.push(...paths(v, [...at, k]));
  };
  if (Array.isArray(node)) node.forEach((v, i) => inside(i, v));
  else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) inside(k, v);
  return out;
}

function replaced(doc: Node, path: (string | number)[], value: unknown): Node {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
  return copy;
}

const sets = [
  ...readdirSync(`${FIXTURES}argo`)
    .filter((f) => !f.includes('analysis-templates'))
    .map((f) => [`argo/${f}`]),
  ['argo/rollout-analysis-step.yaml', 'argo/analysis-templates.yaml', 'argo/cluster-analysis-templates.yaml'],
  ...readdirSync(`${FIXTURES}flagger`).map((f) => [`flagger/${f}`]),
];

for (const set of sets) {
  test(`every field of ${set.join(' + ')} in another shape: imported or refused with its place`, () => {
    const docs = set.map((f) =>
      parseAllDocuments(readFileSync(`${FIXTURES}${f}`, 'utf8')).map((d) => d.toJS() as Node),
    );
    const text = (all: Node[][]) =>
      all.map((d, i) => ({ file: set[i]!, text: d.map((x) => stringify(x)).join('---\n') }));
    let tried = 0;
    for (const [f, fileDocs] of docs.entries()) {
      for (const [d, doc] of fileDocs.entries()) {
        if (!IMPORTED.test(String((doc as { kind?: unknown }).kind))) continue;
        for (const [n, path] of paths(doc).entries()) {
          for (let k = 0; k < PER_PATH; k++) {
            const value = HOSTILE[(n * PER_PATH + k) % HOSTILE.length];
            const mutated = docs.map((x, i) =>
              i === f ? x.map((y, j) => (j === d ? replaced(doc, path, value) : y)) : x,
            );
            tried++;
            try {
              importFiles(text(mutated), DEFAULT_OPTIONS);
            } catch (err) {
              if (err instanceof ConfigError) {
                assert.match(err.message, /^\S+:\d+:\d+ /, `${path.join('.')} = ${JSON.stringify(value)}`);
                continue;
              }
              assert.fail(`${set.join(' + ')} ${path.join('.')} = ${JSON.stringify(value)}: ${(err as Error).stack}`);
            }
          }
        }
      }
    }
    assert.ok(tried > 10, `only ${tried} mutations`);
  });
}
