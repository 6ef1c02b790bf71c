import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';
import { run as k8s } from '../../src/cli/k8s.js';
import { ConfigError } from '../../src/config/errors.js';
import { UsageError } from '../../src/cli/exit.js';
import { canaryAlerts } from '../../src/kube/alerts.js';
import { loadDocuments } from '../../src/config/kinds.js';
import type { KubernetesRolloutDocument } from '../../src/config/schemas/kubernetes.js';
import { validateObject } from '../helpers/kube/models.js';

const dir = mkdtempSync(join(tmpdir(), 'kanari-k8s-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * `kanari k8s ARGS` in this process, its output captured. Both subcommands print before
 * their first await, so the streams are swapped only while nothing else (the test
 * reporter, which writes to this process's stdout) can run. The plugin test below runs
 * the built binary itself.
 */
async function runCli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const saved = { write: process.stdout.write, error: console.error };
  process.stdout.write = ((chunk: string) => ((out.stdout += chunk), true)) as typeof process.stdout.write;
  console.error = (line: string) => void (out.stderr += `${line}\n`);
  let pending: Promise<number>;
  try {
    pending = k8s(args.slice(1));
  } finally {
    process.stdout.write = saved.write;
    console.error = saved.error;
  }
  return { status: await pending, ...out };
}

const documentsOf = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);

/**
 * A PrometheusRule's shape, checked by hand: there is no official schema package for
 * prometheus-operator's CRDs. Fields as its API reference and Prometheus' rule file format
 * give them; an unknown field on a rule would be pruned or refused.
 */
function assertPrometheusRule(rule: Record<string, unknown>): { alert: string; expr: string }[] {
  assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(rule.kind, 'PrometheusRule');
  assert.match(String((rule.metadata as { name: string }).name), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  const groups = (rule.spec as { groups: { name: string; rules: Record<string, unknown>[] }[] }).groups;
  assert.ok(groups.length > 0);
  const rules = groups.flatMap((g) => {
    assert.equal(typeof g.name, 'string');
    return g.rules;
  });
  for (const r of rules) {
    assert.deepEqual(Object.keys(r).sort(), ['alert', 'annotations', 'expr', 'for', 'labels']);
    assert.match(String(r.alert), /^[a-zA-Z_][a-zA-Z0-9_]*$/);
    assert.match(String(r.for), /^\d+[smh]$/);
    for (const map of [r.labels, r.annotations])
      for (const v of Object.values(map as object)) assert.equal(typeof v, 'string');
  }
  return rules as { alert: string; expr: string }[];
}

describe('kanari k8s manifests', () => {
  it('prints YAML documents separated by ---, each valid by the official schemas', async () => {
    // One process start: the scoped variant's objects are checked in test/kube/manifests.test.ts.
    for (const args of [['--namespace', 'shop', '--image', 'registry.example.com/kanari:dev']]) {
      const r = await runCli(['k8s', 'manifests', ...args]);
      assert.equal(r.status, 0, r.stderr);
      const docs = documentsOf(r.stdout);
      assert.ok(docs.length >= 9);
      for (const doc of docs) validateObject(doc);
    }
  });

  it('refuses a namespace or an image that is not one as a usage error (exit 2), before printing anything', async () => {
    for (const args of [
      ['--namespace', 'Not A Namespace'],
      ['--image', '- evil: yaml'],
      ['extra'],
      ['--replicas', '3'],
    ])
      await assert.rejects(k8s(['manifests', ...args]), (err: Error) => {
        assert.ok(err instanceof UsageError, String(err));
        assert.match(err.message, /^k8s manifests: /);
        return true;
      });
  });
});

describe('kanari k8s alerts', () => {
  it("prints a PrometheusRule whose every expression Prometheus' own rule checker accepts", async () => {
    ensureDebian([['promtool', 'prometheus']]);
    const r = await runCli(['k8s', 'alerts', '-f', 'examples/kubernetes/istio/rollout.yaml']);
    assert.equal(r.status, 0, r.stderr);
    const [istio] = documentsOf(r.stdout);
    // The other routers' rules, made in this process: the same function the command prints.
    const nginx = canaryAlerts(
      loadDocuments('examples/kubernetes/nginx/rollout.yaml')[0]!.value as KubernetesRolloutDocument,
      {},
    ).rule;
    for (const [name, rule] of [
      ['istio', istio!],
      ['nginx', nginx as unknown as Record<string, unknown>],
    ] as const) {
      assert.equal(assertPrometheusRule(rule).length, 2);
      const rules = join(dir, `${name}-rules.yaml`);
      // promtool reads a rule file: exactly the PrometheusRule's spec.
      writeFileSync(rules, stringify(rule.spec));
      const check = spawnSync('promtool', ['check', 'rules', rules], { encoding: 'utf8' });
      assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
      assert.match(check.stdout, /SUCCESS: 2 rules found/);
    }
  });

  it('says why no alert can be made, with exit 1 and nothing printed', async () => {
    const r = await runCli(['k8s', 'alerts', '-f', 'examples/kubernetes/replicas/rollout.yaml']);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no alert could be made from it: its Rollouts name no analysis/);
  });

  it('refuses a standalone rollout and a broken file as bad input (exit 2: a ConfigError)', async () => {
    await assert.rejects(
      k8s(['alerts', '-f', 'examples/rollouts/checkout.yaml']),
      (err: Error) =>
        err instanceof ConfigError &&
        /holds no Kubernetes Rollout \(one with spec\.workloadRef\); its Rollouts are standalone/.test(err.message),
    );
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'apiVersion: kanari.dev/v1alpha1\nkind: Rollout\nspec: [\n');
    await assert.rejects(k8s(['alerts', '-f', broken]), ConfigError);
  });
});

describe('the kubectl plugin', () => {
  it('is found on PATH by kubectl and runs kanari: kubectl kanari --help', () => {
    ensureDebian([['kubectl', 'kubernetes-client']]);
    assert.ok(existsSync('dist/cli/main.js'), 'the plugin runs the built CLI: npm run build (npm install does it)');
    const bin = resolve('bin');
    const env = { ...process.env, PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH}`, HOME: dir };
    const list = spawnSync('kubectl', ['plugin', 'list'], { encoding: 'utf8', env });
    assert.match(list.stdout, new RegExp(`${bin}/kubectl-kanari`), list.stderr);
    const help = spawnSync('kubectl', ['kanari', '--help'], { encoding: 'utf8', env });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^kanari — progressive delivery/);
    assert.match(help.stdout, /\bk8s\b/);
  });
});
