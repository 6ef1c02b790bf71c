import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadDocuments, KINDS, schemaFor } from '../src/config/kinds.js';
import type { KubernetesRolloutSpec } from '../src/config/schemas/kubernetes.js';
import { parseDocuments } from '../src/config/load.js';
import { runCliAsync, startCli } from './helpers/cli.js';
import { listenPort } from './helpers/controller.js';
import { validateObject } from './helpers/kube/models.js';

const examples = (readdirSync('examples', { recursive: true }) as string[]).filter((f) => /\.ya?ml$/.test(f));
const markdown = [
  'README.md',
  ...(readdirSync('docs', { recursive: true }) as string[]).map((f) => `docs/${f}`),
].filter((f) => f.endsWith('.md'));

const isKanari = (value: unknown) => String((value as { apiVersion?: unknown }).apiVersion).startsWith('kanari.dev/');

describe('examples', () => {
  it('has examples to check', () => assert.ok(examples.length > 0));
  for (const file of examples) {
    const path = `examples/${file}`;
    const ours = parseDocuments(readFileSync(path, 'utf8'), path).map((d) => isKanari(d.value));
    // A file is kanari's (loaded and checked as `kanari lint` does) or the user's Kubernetes objects beside it.
    if (ours.every(Boolean))
      it(`${path} is valid`, () => {
        const docs = loadDocuments(path);
        assert.ok(docs.length > 0);
      });
    else
      it(`${path} holds only Kubernetes objects, each valid by its official schema`, () => {
        assert.ok(!ours.some(Boolean), `${path} mixes kanari documents with others; put them in files of their own`);
        for (const doc of parseDocuments(readFileSync(path, 'utf8'), path)) validateObject(doc.value);
      });
  }

  for (const router of readdirSync('examples/kubernetes')) {
    it(`examples/kubernetes/${router}/app.yaml has the objects its Rollout names`, () => {
      const [rollout] = loadDocuments(`examples/kubernetes/${router}/rollout.yaml`);
      const spec = (rollout!.value as { spec: KubernetesRolloutSpec }).spec;
      const app = parseDocuments(readFileSync(`examples/kubernetes/${router}/app.yaml`, 'utf8'), 'app.yaml').map(
        (d) => d.value as { kind: string; metadata: { name: string } },
      );
      const has = (kind: string, name: string) =>
        assert.ok(
          app.some((o) => o.kind === kind && o.metadata.name === name),
          `no ${kind} ${name} in app.yaml`,
        );
      has('Deployment', spec.workloadRef.name);
      has('Service', spec.service.name);
      const t = spec.trafficRouting;
      if (t.gatewayAPI) has('HTTPRoute', t.gatewayAPI.httpRoute);
      if (t.istio) has('VirtualService', t.istio.virtualService.name);
      if (t.istio) has('DestinationRule', t.istio.destinationRule.name);
      if (t.nginx) has('Ingress', t.nginx.ingress);
    });
  }
});

describe('docs', () => {
  for (const file of markdown) {
    const text = readFileSync(file, 'utf8');
    const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1]!)
      .filter((b) => b.includes('apiVersion: kanari.dev/'));
    for (const [i, block] of blocks.entries()) {
      it(`${file}: kanari YAML block ${i + 1} is valid`, () => {
        for (const doc of parseDocuments(block, `${file} block ${i + 1}`)) {
          const kind = (doc.value as { kind: keyof typeof KINDS }).kind;
          assert.ok(kind in KINDS, `unknown kind ${kind}`);
          doc.validate(schemaFor(kind, doc.value));
        }
      });
    }
    it(`${file}: relative links point at files that exist`, () => {
      for (const [, target] of text.matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)) {
        const base = file.includes('/') ? file.slice(0, file.lastIndexOf('/') + 1) : '';
        assert.ok(existsSync(base + target!), `${file} links to ${target}, which does not exist`);
      }
    });
  }

  it('the README opens with exactly the two commands', () => {
    const lines = readFileSync('README.md', 'utf8').split('\n');
    assert.equal(lines[0], '    npm install && npx kanari demo     # a live canary rollout, end to end');
    assert.equal(lines[1], '    npm install && npm test            # every test');
  });
});

/**
 * The `kanari up` walkthrough in docs/rollouts.md, run command by command as a reader
 * would in the repository (from a copy, so that nothing here is left behind): only the
 * ports change, the API's to one the system picks and the rollout's to a free one, so
 * that a machine already using 7070 or 8080 can run it too.
 */
describe('the kanari up walkthrough', () => {
  it('runs as written against the example it names', async () => {
    const text = readFileSync('docs/rollouts.md', 'utf8');
    const section = text.slice(text.indexOf('## Running it: `kanari up`'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    const commands = block
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter(Boolean);
    assert.ok(commands.length >= 5, block);
    const dir = mkdtempSync(join(tmpdir(), 'kanari-walkthrough-'));
    symlinkSync(resolve('dist'), join(dir, 'dist'));
    assert.ok(
      existsSync('dist/demo/app.js'),
      'the examples run the built demo app: npm run build (npm install does it)',
    );
    let controller: Awaited<ReturnType<typeof startCli>> | undefined;
    const outputs: string[] = [];
    try {
      for (const command of commands) {
        const m = /^(?:npx )?kanari (.*?)( &)?$/.exec(command);
        assert.ok(m, `"${command}" is a kanari command`);
        const args = m[1]!.split(/\s+/);
        for (const [i, arg] of args.entries()) if (args[i - 1] === '-f') await copyExample(arg, dir);
        if (args[0] === 'up') {
          assert.ok(m[2], 'kanari up runs in the background');
          controller = await startCli([...args, '--listen', '127.0.0.1:0'], /kanari controller on http/, { cwd: dir });
          continue;
        }
        const r = await runCliAsync(args, { cwd: dir, timeout: 150_000 });
        outputs.push(`$ ${command}\n${r.stdout}${r.stderr}${r.status === -1 ? '(did not exit within 150 s)' : ''}`);
        assert.equal(r.status, 0, `${outputs.join('\n')}\n${controller?.output() ?? ''}`);
      }
      assert.match(outputs.join('\n'), /Promoted v2/, 'the rollout it deploys is promoted');
    } finally {
      if (controller && controller.child.exitCode === null) await runCliAsync(['down', '--all'], { cwd: dir });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Copies an example into `dir` at the same relative path, listening on a free port. */
async function copyExample(file: string, dir: string): Promise<void> {
  mkdirSync(dirname(join(dir, file)), { recursive: true });
  const port = await listenPort();
  writeFileSync(join(dir, file), readFileSync(file, 'utf8').replace(/^(\s*listen:\s*)\S+\s*$/m, `$1127.0.0.1:${port}`));
}
