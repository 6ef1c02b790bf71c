/**
 * The CLI against a cluster: `kanari status`, `promote` and `abort` with --kubeconfig and
 * -n on the test API server, answered by a real operator run in this process (the replicas
 * router, as test/operator/operator-replicas.test.ts runs it), and `kubectl kanari status`
 * through Debian's kubectl and the built plugin. Then what goes wrong: a missing Rollout,
 * a refused command, two commands at once, no operator, no API server.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';
import { main } from '../../src/cli/main.js';
import { COMMAND_ANNOTATION, readCommand } from '../../src/kube/commands.js';
import type { Operator } from '../../src/operator/operator.js';
import {
  createApp,
  replicasRollout,
  ROLLOUT_CRD,
  setImage,
  startCluster,
  startOperator,
  type TestCluster,
} from '../helpers/kube/cluster.js';
import { sendJson, sendStatus, startScriptedServer } from '../helpers/kube/scripted-server.js';

const dir = mkdtempSync(join(tmpdir(), 'kanari-cluster-cli-'));
let cluster: TestCluster;
let operator: Operator | undefined;
let kubeconfig: string;
const log: string[] = [];

/** A kubeconfig whose current context points at `server` as user alice, in namespace default. */
function writeKubeconfig(file: string, server: string): string {
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server } }],
      users: [{ name: 'alice', user: {} }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'alice', namespace: 'default' } }],
      'current-context': 'test',
    }),
  );
  return file;
}

before(async () => {
  cluster = await startCluster({ deploymentReadyDelayMs: 100 });
  await cluster.client.create(ROLLOUT_CRD);
  await createApp(cluster.client, 'web', 2, 'web:1');
  await cluster.client.create(
    replicasRollout('web', [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }, { pause: {} }]),
  );
  operator = startOperator(cluster.client, log);
  kubeconfig = writeKubeconfig(join(dir, 'config'), cluster.api.url);
});

after(async () => {
  await operator?.stop();
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * `kanari ARGS` in this process, what it prints captured. Only console.log and
 * console.error are swapped (the test reporter writes to the stream itself); runs that
 * overlap share one capture.
 */
let capture: { out: string; err: string } | undefined;
let running = 0;
async function kanari(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const saved = { log: console.log, error: console.error };
  if (running++ === 0) {
    capture = { out: '', err: '' };
    console.log = (text: unknown) => void (capture!.out += `${String(text)}\n`);
    console.error = (text: unknown) => void (capture!.err += `${String(text)}\n`);
  }
  const mine = capture!;
  try {
    return { code: await main(args), ...mine };
  } finally {
    if (--running === 0) Object.assign(console, saved);
  }
}

const onCluster = () => ['-n', 'default', '--kubeconfig', kubeconfig];
const resource = () => cluster.api.get('kanari.dev/v1alpha1', 'Rollout', 'default', 'web');
const state = () => resource()?.status?.state;

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms; now: ${state()?.message}\n${log.join('\n')}`);
    await sleep(50);
  }
}

const pausedAt = (step: number) => () => state()?.phase === 'Paused' && state()?.step === step;

describe('kanari on a cluster', () => {
  it('status prints the standalone view of the Rollout, with its conditions, and --json', async () => {
    await until('stable serves', () => state()?.phase === 'StableOnly' && state()?.ready?.length > 0);
    const text = await kanari('status', 'web', ...onCluster());
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /^web {2}StableOnly {2}[0-9a-f]{10} {2}\(revision \d+, users on service\/web\)/);
    assert.match(text.out, /^ {2}conditions Healthy \(StableOnly\)$/m);
    const json = await kanari('status', 'web', '--json', ...onCluster());
    const view = JSON.parse(json.out) as { phase: string; namespace: string; steps: unknown[]; conditions: unknown[] };
    assert.equal(view.phase, 'StableOnly');
    assert.equal(view.namespace, 'default');
    assert.equal(view.steps.length, 4);
    assert.equal(view.conditions.length, 5);
    const all = await kanari('status', ...onCluster());
    assert.match(all.out, /^web {2}StableOnly/);
  });

  it('a missing Rollout is exit 4, named with where it was looked for', async () => {
    for (const command of ['status', 'promote']) {
      const r = await kanari(command, 'nope', ...onCluster());
      assert.equal(r.code, 4, r.err);
      assert.match(r.err, /^kanari: no Rollout nope in namespace default \(context "test" of /);
    }
  });

  it('a command the rollout cannot take is answered as refused, exit 1', async () => {
    const r = await kanari('promote', 'web', ...onCluster());
    assert.equal(r.code, 1, r.out);
    assert.match(r.err, /^kanari: web: promote refused: no rollout is in progress$/m);
  });

  it('promote goes past a pause; the operator hears it from the kubeconfig user', async () => {
    await setImage(cluster.client, 'web', 'web:2');
    await until('paused at step 2', pausedAt(1));
    const shown = await kanari('status', 'web', ...onCluster());
    assert.match(shown.out, /^ {4}▶ {2}2\. pause until promoted$/m);
    const r = await kanari('promote', 'web', ...onCluster());
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^web: [A-Za-z]+ — /);
    assert.ok(state()!.step >= 2, `step ${state()!.step}`);
    assert.ok(
      log.some((line) => /default\/web: promote from alice: done/.test(line)),
      log.join('\n'),
    );
  });

  it('two commands at once are both carried out, one after the other, each waiting for its own answer', async () => {
    await until('paused at step 4', pausedAt(3));
    const mark = log.length;
    // Either order ends promoted: the second is carried out too, or refused as already promoting.
    const [a, b] = await Promise.all([
      kanari('promote', 'web', ...onCluster()),
      kanari('promote', 'web', ...onCluster()),
    ]);
    assert.ok(a.code <= 1 && b.code <= 1, `${a.err}${b.err}`);
    const answered = log.slice(mark).filter((line) => /default\/web: promote from alice: /.test(line));
    assert.equal(answered.length, 2, answered.join('\n'));
    await until('v2 promoted', () => state()?.result?.outcome === 'Promoted');
  });

  it('set-weight holds at a weight the replicas router can send, and is refused one it cannot', async () => {
    await setImage(cluster.client, 'web', 'web:3');
    await until('paused at step 2', pausedAt(1));
    const odd = await kanari('set-weight', 'web', '30', ...onCluster());
    assert.equal(odd.code, 1, odd.err);
    assert.match(
      odd.err,
      /set-weight refused: set-weight 30: 30% of 2 pods is 0\.6 pods; .* 0% \(0 pods\) and 50% \(1 pod\)/,
    );
    const r = await kanari('set-weight', 'web', '50', '--reason', 'looks fine', ...onCluster());
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^web: Paused — held at 50% by hand: looks fine/);
    assert.equal(state()?.paused?.hold?.weight, 50);
  });

  it('abort rolls a release back, with its reason', async () => {
    const r = await kanari('abort', 'web', '--reason', 'checkout is slow', ...onCluster());
    assert.equal(r.code, 0, r.err);
    await until('aborted', () => state()?.result?.outcome === 'Aborted');
    assert.match(state()!.result.reason, /checkout is slow/);
  });

  it('history lists the Events the operator wrote on the Rollout, oldest first, with who aborted and why', async () => {
    // An Event about another Rollout, and one a person wrote with a terminal escape: neither is this one's history as given.
    await cluster.client.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'other.1', namespace: 'default' },
      involvedObject: { kind: 'Rollout', name: 'shop', namespace: 'default' },
      type: 'Normal',
      reason: 'Deploy',
      message: 'not web',
      lastTimestamp: '2020-01-01T00:00:00Z',
    });
    const r = await kanari('history', 'web', ...onCluster());
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.ok(
      lines.some((l) => /Warning Abort: abort: checkout is slow {2}\(by alice\)$/.test(l)),
      r.out,
    );
    assert.ok(
      lines.some((l) => / Normal {2}Deploy: deploy /.test(l)),
      r.out,
    );
    assert.doesNotMatch(r.out, /not web/);
    const times = lines.map((l) => l.slice(0, 19));
    assert.deepEqual([...times].sort(), times, 'oldest first');
    assert.doesNotMatch(r.out, /Announce|InstanceReady/, 'the engine’s bookkeeping is not news');
    const json = JSON.parse(
      (await kanari('history', 'web', '--limit', '2', '--json', ...onCluster())).out,
    ) as unknown[];
    assert.equal(json.length, 2);
    const missing = await kanari('history', 'nope', ...onCluster());
    assert.equal(missing.code, 4, missing.err);
  });

  it('kubectl kanari status runs the same view on the current context', async () => {
    ensureDebian([['kubectl', 'kubernetes-client']]);
    assert.ok(existsSync('dist/cli/main.js'), 'the plugin runs the built CLI: npm run build (npm install does it)');
    const env = {
      ...process.env,
      PATH: `${resolve('bin')}:${dirname(process.execPath)}:${process.env.PATH}`,
      KUBECONFIG: kubeconfig,
      HOME: dir,
    };
    const child = spawn('kubectl', ['kanari', 'status', 'web'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const [code] = (await once(child, 'close')) as [number];
    assert.equal(code, 0, out);
    assert.match(out, /^web {2}Aborted .*users on service\/web/);
    assert.match(out, /^ {2}command {3}abort done at /m);
  });

  it('with no operator, a command waits for its timeout, says why, exits 3 and takes its request back', async () => {
    await operator!.stop();
    operator = undefined;
    const r = await kanari('resume', 'web', '--timeout', '1s', ...onCluster());
    assert.equal(r.code, 3, r.err);
    assert.match(r.err, /no answer to resume from the kanari operator within 1 s: is it running/);
    assert.match(r.err, /The request was taken back/);
    assert.equal(readCommand(resource()?.metadata.annotations), undefined, COMMAND_ANNOTATION);
  });

  const annotate = (value: string) =>
    cluster.client.patch(
      { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'web' },
      'merge',
      { metadata: { annotations: { [COMMAND_ANNOTATION]: value } } },
    );

  it('waits behind a request nobody has answered, and leaves that request where it is', async () => {
    const bob = JSON.stringify({ id: 'promote-bob00001', command: 'promote', by: 'bob' });
    await annotate(bob);
    const r = await kanari('pause', 'web', '--timeout', '1s', ...onCluster());
    assert.equal(r.code, 3, r.err);
    assert.match(
      r.err,
      /promote from bob \(id promote-bob00001\) has waited for the operator's answer for 1 s, and this pause waits behind it: is the kanari operator running\?/,
    );
    assert.equal(resource()?.metadata.annotations?.[COMMAND_ANNOTATION], bob);
  });

  it('writes over a request that is not one (never answered), and prints a scripted refusal', async () => {
    await annotate('{"command": "promote"');
    // Where the operator is not the point: an answer written as the operator writes it, to whatever request is there.
    let answering = true;
    const answerer = (async () => {
      while (answering) {
        const request = readCommand(resource()?.metadata.annotations);
        if (request && !('invalid' in request) && resource()?.status?.command?.id !== request.id)
          await cluster.client.patch(
            { apiVersion: 'kanari.dev/v1alpha1', kind: 'Rollout', namespace: 'default', name: 'web' },
            'merge',
            { status: { command: { id: request.id, command: request.command, refused: 'scripted', at: 'now' } } },
            { status: true },
          );
        await sleep(20);
      }
    })();
    try {
      const r = await kanari('retry', 'web', ...onCluster());
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /^kanari: web: retry refused: scripted$/m);
    } finally {
      answering = false;
      await answerer;
    }
  });

  it('an API server that cannot be reached is exit 3', async () => {
    const nowhere = writeKubeconfig(join(dir, 'nowhere'), 'http://127.0.0.1:1');
    for (const command of ['status', 'abort']) {
      const r = await kanari(command, 'web', '--kubeconfig', nowhere);
      assert.equal(r.code, 3, r.err);
      assert.match(r.err, /^kanari: cannot reach the API server at http:\/\/127\.0\.0\.1:1: /);
    }
  });
});

describe('kanari on a cluster where RBAC refuses', () => {
  it('names the verb, the resource and the namespace it was refused', async () => {
    const running = {
      apiVersion: 'kanari.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'web', namespace: 'shop', resourceVersion: '7' },
      status: { state: { phase: 'StableOnly' } },
    };
    const server = await startScriptedServer((req, res) => {
      if (req.url === '/apis/kanari.dev/v1alpha1')
        return sendJson(res, 200, { resources: [{ name: 'rollouts', kind: 'Rollout', namespaced: true }] });
      if (req.method === 'GET' && req.url.startsWith('/apis/kanari.dev/v1alpha1/namespaces/shop/rollouts/web'))
        return sendJson(res, 200, running);
      const verb = req.method === 'PATCH' ? 'patch' : 'get';
      sendStatus(
        res,
        403,
        'Forbidden',
        `rollouts.kanari.dev "web" is forbidden: User "alice" cannot ${verb} resource "rollouts" in API group "kanari.dev" in the namespace "${req.url.split('/')[5]}"`,
      );
    });
    try {
      const config = writeKubeconfig(join(dir, 'rbac'), server.url);
      const read = await kanari('status', 'web', '-n', 'payments', '--kubeconfig', config);
      assert.equal(read.code, 1, read.out);
      assert.match(
        read.err,
        /^kanari: not allowed to get rollouts\.kanari\.dev in namespace payments \(context "test" of .*\): rollouts\.kanari\.dev "web" is forbidden: /,
      );
      assert.match(read.err, /need get, list, watch and patch on rollouts\.kanari\.dev/);
      const write = await kanari('promote', 'web', '-n', 'shop', '--kubeconfig', config);
      assert.equal(write.code, 1, write.out);
      assert.match(write.err, /^kanari: not allowed to patch rollouts\.kanari\.dev in namespace shop /);
    } finally {
      await server.close();
    }
  });
});

describe('kanari on a cluster without kanari', () => {
  it('says the Rollout CRD is not installed, exit 4', async () => {
    const server = await startScriptedServer((req, res) =>
      sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource'),
    );
    try {
      const r = await kanari('status', 'web', '--kubeconfig', writeKubeconfig(join(dir, 'bare'), server.url));
      assert.equal(r.code, 4, r.err);
      assert.match(
        r.err,
        /^kanari: the API server does not serve Rollout \(kanari\.dev\/v1alpha1\); is its CRD installed\?$/m,
      );
    } finally {
      await server.close();
    }
  });
});
