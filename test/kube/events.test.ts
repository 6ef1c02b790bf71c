/**
 * The Events kanari writes on its Rollouts: valid by the official schema, named as
 * client-go names them and unique even within a millisecond, within the limits of a name
 * and a message whatever the object is called and whatever the message says.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventFor } from '../../src/kube/events.js';
import { validateObject } from '../helpers/kube/models.js';

const rollout = {
  apiVersion: 'kanari.dev/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'web', namespace: 'shop', uid: 'u-1', resourceVersion: '42' },
};
const note = { type: 'Warning' as const, reason: 'NotAvailable', message: 'Deployment shop/web is not available' };

describe('eventFor', () => {
  it('names the object, its version and the reporter, valid by the official schema', () => {
    const at = new Date('2026-12-02T01:02:03.456Z');
    const event = eventFor(rollout, note, 'operator-1', at);
    validateObject(event);
    assert.match(event.metadata.name, /^web\.[0-9a-f]+$/);
    assert.equal(event.metadata.namespace, 'shop');
    assert.deepEqual(event.involvedObject, {
      apiVersion: 'kanari.dev/v1alpha1',
      kind: 'Rollout',
      name: 'web',
      namespace: 'shop',
      uid: 'u-1',
      resourceVersion: '42',
    });
    assert.deepEqual(
      [event.type, event.reason, event.message, event.firstTimestamp, event.reportingInstance],
      ['Warning', 'NotAvailable', note.message, '2026-12-02T01:02:03Z', 'operator-1'],
    );
  });

  it('gives two Events of one millisecond two names', () => {
    const at = new Date();
    assert.notEqual(eventFor(rollout, note, 'o', at).metadata.name, eventFor(rollout, note, 'o', at).metadata.name);
  });

  it('keeps a name of 253 characters and a message of 1 kB, whatever it is given', () => {
    const long = { ...rollout, metadata: { ...rollout.metadata, name: `a${'.b'.repeat(126)}` } };
    const event = eventFor(long, { ...note, message: 'x'.repeat(5000) }, 'o');
    validateObject(event);
    assert.ok(event.metadata.name.length <= 253, `${event.metadata.name.length} characters`);
    assert.match(
      event.metadata.name,
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
      'a DNS subdomain',
    );
    assert.equal((event.message as string).length, 1024);
  });
});
