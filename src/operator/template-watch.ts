/**
 * The AnalysisTemplate resources the leader knows, kept by a watch (list, then watch): a
 * Rollout's templates are looked up here on each reconcile without a request each, and a
 * template created, changed or deleted reconciles the Rollouts of its namespace, so one
 * refused for a missing template goes on as soon as it exists. Until the first list has
 * arrived (or while the kind cannot be listed: its CRD not installed), a lookup asks the
 * API server.
 */
import { API_VERSION } from '../config/schemas/common.js';
import type { KubeClient, KubeObject } from '../kube/api.js';
import { watchKind, type KindWatch } from '../kube/informer.js';
import type { TemplateLookup } from './templates.js';

export class TemplateWatch {
  private readonly objects = new Map<string, KubeObject>();
  private synced = false;
  private readonly watch: KindWatch;

  constructor(
    private readonly client: KubeClient,
    namespace: string | undefined,
    /** A template of `namespace` changed: its Rollouts are reconciled. */
    changed: (namespace: string) => void,
    failed: (err: unknown) => void,
  ) {
    this.watch = watchKind(this.client, API_VERSION, 'AnalysisTemplate', namespace, {
      synced: (items) => {
        const namespaces = new Set([...this.objects.values(), ...items].map(namespaceOf));
        this.objects.clear();
        for (const item of items) this.objects.set(keyOf(namespaceOf(item), item.metadata.name), item);
        this.synced = true;
        for (const ns of namespaces) changed(ns);
      },
      changed: (e) => {
        const key = keyOf(namespaceOf(e.object), e.object.metadata.name);
        if (e.type === 'DELETED') this.objects.delete(key);
        else this.objects.set(key, e.object);
        changed(namespaceOf(e.object));
      },
      failed,
    });
  }

  readonly find: TemplateLookup = async (namespace, name) => {
    if (this.synced) return this.objects.get(keyOf(namespace, name));
    return this.client.get({ apiVersion: API_VERSION, kind: 'AnalysisTemplate', namespace, name });
  };

  stop(): Promise<void> {
    return this.watch.stop();
  }
}

const namespaceOf = (o: KubeObject) => o.metadata.namespace ?? 'default';
const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;
