/**
 * The Gateway API router narrows the user's Service to stable, on an in-memory KubeClient:
 * what reaches the Service without kanari's rules (the user's rules, in-cluster callers)
 * reaches one version at every write, never every version by pod count; the Service moves
 * on promotion before kanari's rules go; giving back unpins and keeps the user's keys; a
 * hostile Service read back is a refusal naming it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../../src/kube/api.js';
import { ROLLOUT_LABEL, VERSION_LABEL } from '../../../src/kube/versions.js';
import { sameTraffic, TrafficRefused } from '../../../src/rollout/seams/traffic.js';
import type { TrafficState } from '../../../src/rollout/types.js';
import { GatewayApiTraffic } from '../../../src/traffic/kubernetes/gatewayapi/router.js';
import { MeshFakeClient } from '../../helpers/kube/mesh-fake.js';
import {
  httpRouteCrd,
  ROLLOUT,
  SERVICE,
  splitAt,
  stableOnly,
  userHttpRoute,
  userService,
  wholeRollout,
} from '../../helpers/kube/mesh-objects.js';

const ROUTE = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace: 'shop', name: 'web' };
const SVC = { apiVersion: 'v1', kind: 'Service', namespace: 'shop', name: 'web' };
/** Each version's pods: the template's label, which the user's selector matches, and kanari's two. */
const PODS = ['v1', 'v2'].map((v): { version: string; labels: Record<string, string> } => ({
  version: v,
  labels: { app: 'web', [ROLLOUT_LABEL]: 'web', [VERSION_LABEL]: v },
}));

function setup(service: KubeObject = userService(), holdMs = 0) {
  const client = new MeshFakeClient();
  client.put(userHttpRoute());
  client.put(httpRouteCrd({ ruleName: true, mirrorPercent: true }));
  client.put(service);
  const router = new GatewayApiTraffic({
    client,
    rollout: ROLLOUT,
    service: SERVICE,
    routing: { httpRoute: 'web' },
    holdMs,
  });
  return { client, router };
}

const selectorOf = (o: KubeObject | undefined) => (o?.spec as { selector: Record<string, string> }).selector;
const ownedRules = (route: KubeObject) =>
  (route.spec as { rules: { name?: string }[] }).rules.filter((r) => r.name?.startsWith('kanari-')).length;

/** The versions whose pods the Service selects: what a caller of the Service may land on. */
function versionsBehind(service: KubeObject | undefined): string[] {
  const selector = selectorOf(service);
  return PODS.filter((p) => Object.entries(selector).every(([k, v]) => p.labels[k] === v)).map((p) => p.version);
}

describe('gatewayapi router: the user’s Service narrowed to stable', () => {
  it('at every write of a whole rollout and a rollback, the Service reaches stable alone, and moves before kanari’s rules go', async () => {
    const { client, router } = setup();
    const writes: string[] = [];
    let asked: TrafficState | undefined;
    client.beforeReplace = (incoming) => {
      writes.push(incoming.kind);
      const service = incoming.kind === 'Service' ? incoming : client.stored(SVC);
      if (incoming.kind === 'HTTPRoute' || writes.length > 1)
        assert.deepEqual(
          versionsBehind(service),
          [asked!.stable],
          `the Service reaches stable alone: ${JSON.stringify(asked)}`,
        );
      if (incoming.kind === 'HTTPRoute' && ownedRules(incoming) === 0)
        assert.equal(selectorOf(client.stored(SVC))[VERSION_LABEL], asked!.stable, 'pinned before the rules go');
    };
    for (const state of [
      ...wholeRollout(),
      stableOnly('v2'),
      splitAt(25, { stable: 'v2', canary: 'v1' }),
      stableOnly('v2'),
    ]) {
      asked = state;
      await router.apply(state);
      assert.ok(sameTraffic(await router.observe(), state), JSON.stringify(state));
      assert.deepEqual(selectorOf(client.stored(SVC)), {
        app: 'web',
        [ROLLOUT_LABEL]: 'web',
        [VERSION_LABEL]: state.stable,
      });
    }
    assert.deepEqual(writes.slice(0, 2), ['Service', 'HTTPRoute'], 'narrowed before the first rule is written');
    assert.equal(writes.filter((w) => w === 'Service').length, 2, 'written when stable moves, not at every step');
    await router.apply(stableOnly('v2')); // the hold's first write sent everyone to web-v2; this one takes the rules out
    assert.deepEqual(client.stored(ROUTE)!.spec, userHttpRoute().spec, 'the route is the user’s again');
  });

  it('on promotion, the Service moves before the rules change, in the same apply', async () => {
    const { client, router } = setup(userService(), 60_000);
    await router.apply(splitAt(50));
    const writes: string[] = [];
    client.beforeReplace = (incoming) =>
      writes.push(`${incoming.kind}:${String(selectorOf(client.stored(SVC))[VERSION_LABEL])}`);
    await router.apply(stableOnly('v2'));
    assert.deepEqual(writes, ['Service:v1', 'HTTPRoute:v2']);
    assert.ok(sameTraffic(await router.observe(), stableOnly('v2')));
  });

  it('giving back takes kanari’s rules out, then its two labels, and keeps the user’s own keys', async () => {
    const service = userService();
    selectorOf(service)['tier'] = 'front';
    const { client, router } = setup(service);
    await router.apply(splitAt(25));
    const writes: string[] = [];
    client.beforeReplace = (incoming) => writes.push(incoming.kind);
    await router.giveBack();
    assert.deepEqual(writes, ['HTTPRoute', 'Service'], 'stable’s pods serve the user’s rules until the labels go');
    assert.deepEqual(selectorOf(client.stored(SVC)), { app: 'web', tier: 'front' });
    assert.deepEqual(client.stored(ROUTE)!.spec, userHttpRoute().spec);
    await router.giveBack();
    assert.deepEqual(writes.length, 2, 'nothing of kanari’s left: nothing written');
  });

  it('giving back leaves a Service another Rollout narrows, and one that is gone', async () => {
    const service = userService();
    Object.assign(selectorOf(service), { [ROLLOUT_LABEL]: 'other', [VERSION_LABEL]: 'x' });
    const { client, router } = setup(service);
    await router.giveBack();
    assert.equal(selectorOf(client.stored(SVC))[ROLLOUT_LABEL], 'other');
    const gone = new GatewayApiTraffic({
      client,
      rollout: ROLLOUT,
      service: { name: 'nope', port: 80 },
      routing: { httpRoute: 'web' },
    });
    await gone.giveBack();
  });

  it('observes the state as not reached while the Service is not narrowed as asked, and narrows it again', async () => {
    const { client, router } = setup();
    await router.apply(splitAt(25));
    client.put(userService()); // a GitOps tool applies the Service from git
    assert.equal(await router.observe(), undefined);
    await router.apply(splitAt(25));
    assert.ok(sameTraffic(await router.observe(), splitAt(25)));
    const edited = client.stored(SVC)!;
    selectorOf(edited)[VERSION_LABEL] = 'v2';
    client.put(edited);
    assert.equal(await router.observe(), undefined, 'narrowed to the canary by hand');
  });

  it('a new router reads stable from the Service when the route has no rules of kanari’s (after a restart)', async () => {
    const { client, router } = setup();
    await router.apply(stableOnly('v2'));
    const fresh = new GatewayApiTraffic({ client, rollout: ROLLOUT, service: SERVICE, routing: { httpRoute: 'web' } });
    assert.ok(sameTraffic(await fresh.observe(), stableOnly('v2')));
    client.put(userService());
    assert.equal(await fresh.observe(), undefined, 'not narrowed: nothing known to be served');
  });
});

describe('gatewayapi router: a Service it will not narrow', () => {
  const refused = async (service: KubeObject | undefined, pattern: RegExp) => {
    const { client, router } = setup(service ?? userService());
    if (!service) client.put({ ...userService(), metadata: { name: 'other', namespace: 'shop' } });
    const route = client.stored(ROUTE)!;
    const r = service
      ? router
      : new GatewayApiTraffic({
          client,
          rollout: ROLLOUT,
          service: { name: 'nope', port: 80 },
          routing: { httpRoute: 'web' },
        });
    await assert.rejects(r.apply(splitAt(25)), (e) => e instanceof TrafficRefused && pattern.test(e.message));
    assert.deepEqual(client.stored(ROUTE), route, 'nothing written to the route');
    return { client, router: r };
  };
  const withSelector = (selector: unknown): KubeObject => ({ ...userService(), spec: { selector } });

  it('refuses a Service without a selector of its own', async () => {
    await refused({ ...userService(), spec: { ports: [{ port: 80 }] } }, /Service web has no selector of its own/);
    await refused(withSelector({ [ROLLOUT_LABEL]: 'web', [VERSION_LABEL]: 'v1' }), /has no selector of its own/);
  });

  it('refuses a Service another Rollout narrows', async () => {
    await refused(withSelector({ app: 'web', [ROLLOUT_LABEL]: 'other', [VERSION_LABEL]: 'x' }), /Rollout other/);
  });

  it('refuses a Service that does not exist', async () => {
    await refused(undefined, /Service shop\/nope does not exist/);
  });

  it('refuses a hostile selector read back, naming it, in apply and in observe', async () => {
    const huge = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v']));
    for (const selector of ['app=web', ['app', 'web'], { app: 7 }, { app: 'x'.repeat(10_000) }, huge, null]) {
      const { router } = await refused(withSelector(selector), /Service web spec\.selector/);
      await assert.rejects(
        router.observe(),
        (e) => e instanceof TrafficRefused && /Service web spec\.selector/.test(e.message),
      );
    }
    await refused({ ...userService(), spec: 'nothing' }, /Service web spec/);
  });
});
