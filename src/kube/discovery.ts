/**
 * Which kinds the API server serves, and at which paths: read once per group-version
 * (`/api/v1`, `/apis/<group>/<version>`) and read again when a kind is not found, since a
 * CRD may be installed after kanari started.
 */
import { groupOf, KubeError, type ResourceInfo } from './api.js';
import { INVALID_RESPONSE } from './http-errors.js';
import type { Transport } from './http-transport.js';

type Kinds = Map<string, ResourceInfo>;

export class Discovery {
  private groupVersions = new Map<string, Promise<Kinds>>();
  constructor(private transport: Transport) {}

  /** The kind, or undefined when the server does not serve it even after reading its group-version again. */
  async find(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    const cached = this.groupVersions.get(apiVersion);
    const kinds = await (cached ?? this.load(apiVersion));
    if (kinds.has(kind) || !cached) return kinds.get(kind);
    // Read again, unless another lookup already did since.
    const current = this.groupVersions.get(apiVersion);
    return (await (current && current !== cached ? current : this.load(apiVersion))).get(kind);
  }

  private load(apiVersion: string): Promise<Kinds> {
    const loading = this.read(apiVersion);
    this.groupVersions.set(apiVersion, loading);
    // A failed read is not kept: the next lookup tries again.
    loading.catch(() => this.groupVersions.get(apiVersion) === loading && this.groupVersions.delete(apiVersion));
    return loading;
  }

  private async read(apiVersion: string): Promise<Kinds> {
    if (!/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion)) {
      throw new KubeError(400, 'BadRequest', `${JSON.stringify(apiVersion)} is not an apiVersion`);
    }
    const path = groupPath(apiVersion);
    const answer = await this.transport.request({ method: 'GET', path }, [404]);
    const kinds: Kinds = new Map();
    if (answer.status === 404) return kinds;
    const resources = (answer.body as { resources?: unknown } | undefined)?.resources;
    if (!Array.isArray(resources)) {
      throw new KubeError(0, INVALID_RESPONSE, `GET ${path}: the API server's answer lists no resources`);
    }
    const subresources = new Map<string, string[]>();
    for (const entry of resources as Record<string, unknown>[]) {
      if (typeof entry?.name !== 'string') continue;
      const [plural, sub] = entry.name.split('/', 2) as [string, string | undefined];
      if (sub) subresources.set(plural, [...(subresources.get(plural) ?? []), sub]);
      else if (typeof entry.kind === 'string') {
        kinds.set(entry.kind, {
          apiVersion,
          kind: entry.kind,
          plural,
          namespaced: entry.namespaced === true,
          subresources: [],
        });
      }
    }
    for (const info of kinds.values()) info.subresources = subresources.get(info.plural) ?? [];
    return kinds;
  }
}

/** `/api/v1` for the core group, `/apis/apps/v1` for the others. */
export function groupPath(apiVersion: string): string {
  return groupOf(apiVersion) ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}
