/**
 * The test API server with the mesh's CRDs installed and a user's objects in namespace
 * `shop`, reached by kanari's HTTP client: where the Gateway API and Istio routers are
 * tested as they run, atomic lists, pruning, defaults and 409s included.
 */
import type { KubeClient, KubeObject } from '../../../src/kube/api.js';
import type { HttpKubeClient } from '../../../src/kube/http-client.js';
import type { TestKubeApi } from './apiserver.js';
import { startCluster } from './cluster.js';

export interface MeshCluster {
  api: TestKubeApi;
  client: HttpKubeClient;
  /** The objects as the server stored them (defaults filled in, unknown fields pruned). */
  stored: KubeObject[];
  close(): Promise<void>;
}

export async function meshCluster(crds: KubeObject[], objects: KubeObject[]): Promise<MeshCluster> {
  const { api, client } = await startCluster();
  const close = async () => {
    client.close();
    await api.close();
  };
  try {
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    for (const crd of crds) await client.create(crd);
    for (const crd of crds) await served(client, crd);
    const stored: KubeObject[] = [];
    for (const o of objects) {
      const { resourceVersion: _, ...metadata } = o.metadata;
      stored.push(await client.create({ ...o, metadata }));
    }
    return { api, client, stored, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Waits until discovery serves a CRD's kind (it is Established a moment after it is created). */
async function served(client: HttpKubeClient, crd: KubeObject): Promise<void> {
  const spec = crd.spec as { group: string; names: { kind: string }; versions: { name: string }[] };
  const apiVersion = `${spec.group}/${spec.versions[0]!.name}`;
  for (let waited = 0; waited < 10_000; waited += 20) {
    if (await client.resource(apiVersion, spec.names.kind)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${apiVersion} ${spec.names.kind} is not served 10 s after its CRD was created`);
}

/**
 * A client whose first replace of a `kind` object is beaten by a user's edit of it (made
 * with the cluster's client between the router's read and its write), so the server answers
 * 409; `conflicts` counts the replaces refused.
 */
export function racedBy(
  client: KubeClient,
  kind: string,
  userEdit: () => Promise<unknown>,
): { client: KubeClient; conflicts: () => number } {
  let edited = false;
  let conflicts = 0;
  const racing = Object.create(client) as KubeClient;
  racing.replace = async (object, options) => {
    if (!edited && object.kind === kind) {
      edited = true;
      await userEdit();
    }
    try {
      return await client.replace(object, options);
    } catch (err) {
      conflicts++;
      throw err;
    }
  };
  return { client: racing, conflicts: () => conflicts };
}
