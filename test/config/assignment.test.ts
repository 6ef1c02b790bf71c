import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDocuments } from '../../src/config/kinds.js';
import { file } from '../helpers/config.js';

/** A Rollout judged in the background by template `t`, and that template; `sticky` and the template's sequential spec vary. */
function files(sticky: string, sequential: string): string {
  return file(
    `apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: shop }
spec:
  listen: 8080
${sticky}  stable: { version: v1, upstreams: [http://127.0.0.1:9001] }
  canary: { upstreams: [http://127.0.0.1:9002] }
  strategy:
    canary:
      analysis: { templates: [t] }
      steps: [{ setWeight: 5 }, { pause: { duration: 10m } }]
---
apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: t }
spec:
  sequential:
${sequential}`,
  );
}

const PROMETHEUS = '    source: { prometheus: { address: http://127.0.0.1:9090 } }\n';

describe('the unit a judge counts and the unit a router assigns', () => {
  it('refuses request counts from Prometheus when the router keeps users on one version, at the line naming the template', () => {
    assert.throws(
      () => loadDocuments(files('', PROMETHEUS)),
      (err: Error) => {
        assert.match(
          err.message,
          /f\d+\.yaml:10:31 spec\.strategy\.canary\.analysis\.templates\[0\]: template "t" counts requests from Prometheus, which has no user dimension, but this rollout's router keeps each user on one version \(by the kanari-shop cookie\)/,
        );
        return true;
      },
    );
  });

  it('refuses unit: requests under sticky users, naming how users are kept', () => {
    assert.throws(
      () => loadDocuments(files('  sticky: { header: x-user }\n', '    unit: requests\n')),
      /template "t" asks for unit: requests, but this rollout's router keeps each user on one version \(by the x-user header\)/,
    );
  });

  it('takes request counts where every request is assigned on its own', () => {
    const docs = loadDocuments(files('  sticky: { perRequest: true }\n', PROMETHEUS));
    assert.equal(docs.length, 2);
    loadDocuments(files('  sticky: { perRequest: true }\n', '    unit: requests\n'));
  });

  it('takes the default (users from the router) under sticky users', () => {
    assert.equal(loadDocuments(files('', '    alpha: 0.05\n')).length, 2);
  });

  it('refuses unit: users with a source that has no user dimension, at the unit', () => {
    assert.throws(
      () => loadDocuments(files('', `    unit: users\n${PROMETHEUS}`)),
      /f\d+\.yaml:18:11 spec\.sequential\.unit: counts from Prometheus have no user dimension/,
    );
  });

  it('refuses promotion.noWorseThan when users are counted, which cannot show it', () => {
    assert.throws(
      () => loadDocuments(files('', '    promotion: { noWorseThan: 1.5 }\n')),
      /template "t" asks for promotion.noWorseThan, which cannot be shown counting users/,
    );
    assert.throws(
      () => loadDocuments(files('', '    unit: users\n    promotion: { noWorseThan: 1.5 }\n')),
      /spec\.sequential\.promotion\.noWorseThan: "no worse than" cannot be shown counting users/,
    );
    loadDocuments(files('  sticky: { perRequest: true }\n', '    promotion: { noWorseThan: 1.5 }\n'));
  });
});
