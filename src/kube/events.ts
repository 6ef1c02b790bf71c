/**
 * Kubernetes Events on an object: what `kubectl describe` lists under it and `kubectl get
 * events` shows. Written as client-go's recorder writes them (core v1, named
 * `<object>.<hex time>`), best effort: an Event is a note about the work, and one that
 * cannot be written (RBAC, a namespace being deleted, which takes no new objects) never
 * stops the work it reports.
 */
import { randomBytes } from 'node:crypto';
import type { KubeClient, KubeObject } from './api.js';

export interface EventNote {
  type: 'Normal' | 'Warning';
  /** UpperCamelCase, as Kubernetes' own reasons: `ScaledBack`, `NotAvailable`. */
  reason: string;
  message: string;
}

/** What `kubectl describe` shows as the Event's source. */
export const REPORTING_COMPONENT = 'kanari-operator';
/** The API server keeps an Event's message whole, but `events.k8s.io` notes stop at 1 kB: kanari's stay within it. */
const MAX_MESSAGE = 1024;

/** The Event that reports `note` about `object`, as `reporter` (this replica) at `at`. */
export function eventFor(object: KubeObject, note: EventNote, reporter: string, at = new Date()): KubeObject {
  const time = at.toISOString().replace(/\.\d+Z$/, 'Z');
  const unique = `${(BigInt(at.getTime()) * 1_000_000n).toString(16)}${randomBytes(3).toString('hex')}`;
  const namespace = object.metadata.namespace ?? 'default';
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${prefixOf(object.metadata.name, 253 - unique.length - 1)}.${unique}`, namespace },
    involvedObject: {
      apiVersion: object.apiVersion,
      kind: object.kind,
      name: object.metadata.name,
      namespace,
      ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
      ...(object.metadata.resourceVersion ? { resourceVersion: object.metadata.resourceVersion } : {}),
    },
    type: note.type,
    reason: note.reason,
    message: note.message.length > MAX_MESSAGE ? `${note.message.slice(0, MAX_MESSAGE - 1)}…` : note.message,
    source: { component: REPORTING_COMPONENT },
    reportingComponent: REPORTING_COMPONENT,
    reportingInstance: reporter,
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  };
}

/** A name is at most 253 characters: a long object name is cut where a DNS subdomain may end (not on a dot or dash). */
function prefixOf(name: string, length: number): string {
  return name.length <= length ? name : name.slice(0, length).replace(/[-.]+$/, '');
}

/** Writes the Event; resolves either way, with why it could not be written. */
export async function recordEvent(
  client: KubeClient,
  object: KubeObject,
  note: EventNote,
  reporter: string,
): Promise<{ failed?: string }> {
  try {
    await client.create(eventFor(object, note, reporter));
    return {};
  } catch (err) {
    return { failed: err instanceof Error ? err.message : String(err) };
  }
}
