/**
 * The test API server with kanari's own HTTP client pointed at it: what the operator's
 * tests run against. `rolloutCrd` installs a Rollout CRD that keeps any spec and status
 * (the tests of the generated CRD are elsewhere), with the status subresource.
 */
import type { KubeClient } from '../../../src/kube/api.js';
import { kubernetesWorld } from '../../../src/operator/compose.js';
import { Operator } from '../../../src/operator/operator.js';
import { fixedCredential } from '../../../src/kube/credentials.js';
import { updateObject } from '../../../src/kube/update.js';
import { kubeClient, type HttpKubeClient } from '../../../src/kube/http-client.js';
import { startKubeApiServer, type KubeApiServerOptions, type TestKubeApi } from './apiserver.js';

export interface TestCluster {
  api: TestKubeApi;
  client: HttpKubeClient;
  close(): Promise<void>;
}

export async function startCluster(options: KubeApiServerOptions = {}): Promise<TestCluster> {
  const api = await startKubeApiServer(options);
  const client = kubeClient({
    server: api.url,
    namespace: 'default',
    tls: { insecure: false },
    credentials: fixedCredential({}),
    origin: 'the test API server',
  });
  return { api, client, close: () => api.close() };
}

/** A Rollout CRD that keeps whatever spec and status it is given, with the status subresource. */
export const ROLLOUT_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'rollouts.kanari.dev' },
  spec: {
    group: 'kanari.dev',
    scope: 'Namespaced',
    names: { plural: 'rollouts', singular: 'rollout', kind: 'Rollout', listKind: 'RolloutList' },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    ],
  },
};

/** A Rollout of the app `app` (its Deployment and Service) by replica ratios, with `steps`. */
export function replicasRollout(app: string, steps: unknown[], metadata: { name?: string; namespace?: string } = {}) {
  return {
    apiVersion: 'kanari.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: metadata.name ?? app, namespace: metadata.namespace ?? 'default' },
    spec: {
      workloadRef: { name: app },
      service: { name: app },
      trafficRouting: { replicas: {} },
      strategy: { canary: { steps } },
    },
  };
}

/** A pod template of app `app` running `image`: what a user's Deployment holds. */
export function appTemplate(app: string, image: string) {
  return { metadata: { labels: { app } }, spec: { containers: [{ name: 'app', image }] } };
}

/** A user's app in namespace default: a Deployment of `replicas` pods running `image`, and a Service selecting them. */
export async function createApp(client: KubeClient, name: string, replicas: number, image: string): Promise<void> {
  await client.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: appTemplate(name, image) },
  });
  await client.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { selector: { app: name }, ports: [{ port: 80 }] },
  });
}

/** What a user's `kubectl apply` of a new image does to app `name`'s Deployment. */
export function setImage(client: KubeClient, name: string, image: string) {
  return updateObject(client, { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name }, (d) => ({
    ...d,
    spec: { ...(d.spec as object), template: appTemplate(name, image) },
  }));
}

/**
 * The test operators' leader election: short, so a stopped leader's lease passes soon, yet
 * with a renew deadline of 2 s, so a test process stalled a second on a busy machine (its
 * API server, operator and apps share one event loop) does not lose and retake the lease,
 * which a release survives but a test waiting on it may not. Tests of the election itself
 * (lease.test, operator-lease-lapse.test) set their own.
 */
export const TEST_ELECTION = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200 };

/** A started operator on the test cluster, with short leases, a fast resync and fast polls; its log lines go to `log`. */
export function startOperator(client: KubeClient, log: string[], identity = 'operator-1'): Operator {
  const operator = new Operator({
    client,
    leaseNamespace: 'default',
    identity,
    resyncMs: 500,
    election: TEST_ELECTION,
    world: (c) => kubernetesWorld(c, { pollMs: 100 }),
    log: (line) => log.push(line),
  });
  operator.start();
  return operator;
}
