/**
 * The rollouts as the operator's API serves them: read from the Rollout resources (the
 * view `kanari status` draws of one on a cluster), and controlled the way `kubectl kanari`
 * does — the command written into the Rollout's annotation and the leader's answer awaited
 * — so any replica, leading or not, can take a command behind one Service.
 *
 * A rollout is named `NAMESPACE/NAME` (its slash percent-encoded in the path: %2F), or by
 * its name alone in the operator's own namespace.
 */
import { API_VERSION } from '../config/schemas/common.js';
import { KubeError, type KubeObject } from '../kube/api.js';
import type { HttpKubeClient } from '../kube/http-client.js';
import type { Command } from '../rollout/person-command.js';
import type { Rollouts } from '../server/api-core.js';
import type { RolloutView } from '../server/view.js';
import { HttpError } from '../shared/http.js';
import type { Cluster } from './cluster.js';
import { sendCommand, type CommandAsked } from './cluster-command.js';
import { rolloutRef } from './cluster-status.js';
import { clusterView, isRunning, type RunningView } from './cluster-view.js';
import { CommandError, EXIT } from './exit.js';

/** A namespace or a name as Kubernetes takes them (RFC 1123 subdomain): anything else is not looked up. */
const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface ClusterRolloutsOptions {
  client: HttpKubeClient;
  /** Only this namespace's Rollouts (the operator's --namespace); every namespace's when undefined. */
  watched?: string;
  /** Where a bare name is looked for. */
  home: string;
  origin: string;
  /** How long a command waits for the leader's answer (30 s unless said). */
  commandTimeoutMs?: number;
}

export class ClusterRollouts implements Rollouts {
  constructor(private readonly o: ClusterRolloutsOptions) {}

  /**
   * Every Rollout the operator runs, or those of `namespace`; one not taken on yet, or whose
   * status cannot be read, is left out.
   */
  async views(namespace?: string): Promise<RunningView[]> {
    const where = namespace === undefined ? this.o.watched : this.runs(namespace);
    const { items } = await this.ask(() => this.o.client.list(API_VERSION, 'Rollout', where));
    const views: RunningView[] = [];
    for (const item of items) {
      try {
        const view = clusterView(item);
        if (isRunning(view)) views.push(view);
      } catch (err) {
        if (!(err instanceof CommandError)) throw err;
      }
    }
    return views.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }

  async view(ref: string): Promise<RolloutView> {
    const { namespace, name } = this.locate(ref);
    const resource = await this.ask(() => this.o.client.get(rolloutRef(namespace, name)));
    if (!resource) throw new HttpError(404, `no Rollout ${name} in namespace ${namespace}`);
    return running(resource);
  }

  command(ref: string, command: Command, options: { full?: boolean; reason?: string }, actor?: string) {
    return this.send(
      ref,
      {
        command,
        ...(options.full ? { full: true as const } : {}),
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      },
      actor,
    );
  }

  setWeight(ref: string, weight: number, reason?: string, actor?: string) {
    return this.send(ref, { command: 'set-weight', weight, ...(reason === undefined ? {} : { reason }) }, actor);
  }

  private async send(ref: string, asked: CommandAsked, actor?: string): Promise<RolloutView> {
    const { namespace, name } = this.locate(ref);
    // The history records who asked: the API's principal, not the operator's service account.
    const cluster: Cluster = {
      client: this.o.client,
      namespace,
      origin: this.o.origin,
      ...(actor ? { user: actor } : {}),
    };
    try {
      const { answer, resource } = await sendCommand(cluster, name, asked, this.o.commandTimeoutMs ?? 30_000);
      if (answer.refused) throw new HttpError(409, `${asked.command} refused: ${answer.refused}`);
      return running(resource);
    } catch (err) {
      throw asHttpError(err);
    }
  }

  /** Where a rollout the API names is: 400 for a name Kubernetes would not take, 404 outside the namespace run. */
  locate(ref: string): { namespace: string; name: string } {
    const slash = ref.indexOf('/');
    const namespace = slash < 0 ? this.o.home : ref.slice(0, slash);
    const name = slash < 0 ? ref : ref.slice(slash + 1);
    if (!DNS_NAME.test(namespace) || !DNS_NAME.test(name))
      throw new HttpError(
        400,
        `a rollout is named NAME or NAMESPACE/NAME (lowercase letters, digits, dots and dashes; got ${JSON.stringify(ref.slice(0, 100))})`,
      );
    return { namespace: this.runs(namespace), name };
  }

  /** `namespace`, when this operator runs its Rollouts; 404 saying which it runs else. */
  private runs(namespace: string): string {
    if (this.o.watched !== undefined && namespace !== this.o.watched)
      throw new HttpError(
        404,
        `this operator runs the Rollouts of namespace ${this.o.watched} only (asked for ${namespace})`,
      );
    return namespace;
  }

  private async ask<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw asHttpError(err);
    }
  }
}

/** The view of a Rollout the operator runs; 409 saying why for one it does not run (yet). */
function running(resource: KubeObject): RunningView {
  const view = clusterView(resource);
  if (!isRunning(view)) throw new HttpError(409, `${view.namespace}/${view.name} is not running: ${view.message}`);
  return view;
}

/** The CLI's refusals and the API server's failures, as the API's problems. */
function asHttpError(err: unknown): unknown {
  if (err instanceof CommandError)
    return new HttpError(
      err.exitCode === EXIT.notFound ? 404 : err.exitCode === EXIT.unreachable ? 503 : 409,
      err.message,
    );
  if (err instanceof KubeError) return new HttpError(503, `the Kubernetes API server: ${err.message}`);
  return err;
}
