/**
 * The test API server with kanari's own HTTP client pointed at it: what the operator's
 * tests run against. `rolloutCrd` installs a Rollout CRD that keeps any spec and status
 * (the tests of the generated CRD are elsewhere), with the status subresource.
 */
import { fixedCredential } from '../../../src/kube/credentials.js';
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
