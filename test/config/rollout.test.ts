import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorsOf, file } from '../helpers/config.js';
import { loadDocuments, loadKind } from '../../src/config/kinds.js';
import { NGINX, REPLICAS } from '../../src/config/capabilities.js';

const rollout = (steps: string, extra = '') => `apiVersion: kanari.dev/v1alpha1
kind: Rollout
metadata: { name: checkout }
spec:
  listen: 8080
  stable: { version: v1, upstreams: [http://127.0.0.1:9001] }
  canary: { process: { command: node app.js } }
${extra}  strategy:
    canary:
      analysis: { templates: [sequential] }
      steps:
${steps}`;

describe('Rollout files', () => {
  it('load with defaults filled in', () => {
    const doc = loadKind(
      file(
        rollout(
          '        - setWeight: 5\n        - pause: { duration: 2m }\n        - analysis: { templates: [threshold] }\n',
        ),
      ),
      'Rollout',
    );
    assert.equal(doc.spec.canary.process?.port, 0);
    assert.equal(doc.spec.canary.process?.readiness, '/healthz');
    assert.equal(doc.spec.progressDeadline, 600_000);
    assert.deepEqual(doc.spec.strategy.canary!.steps[1], { pause: { duration: 120_000 } });
    assert.equal(doc.spec.strategy.canary!.analysis?.startingStep, 0);
  });

  it('report a step with two actions, a weight out of range and an unknown step at their line', () => {
    assert.deepEqual(
      errorsOf(
        file(rollout('        - setWeight: 150\n        - { setWeight: 5, pause: {} }\n        - setWieght: 5\n')),
      ),
      [
        'F:12:22 spec.strategy.canary.steps[0].setWeight: must be between 0 and 100 (got 150)',
        'F:13:11 spec.strategy.canary.steps[1]: set exactly one of setWeight, pause, analysis, setHeaderRoute, setMirror, baseline (got setWeight and pause)',
        'F:14:11 spec.strategy.canary.steps[2].setWieght: unknown key (did you mean "setWeight"?)',
        'F:14:11 spec.strategy.canary.steps[2]: set exactly one of setWeight, pause, analysis, setHeaderRoute, setMirror, baseline',
      ],
    );
  });

  it('name an analysis template that does not exist, with a suggestion', () => {
    assert.deepEqual(errorsOf(file(rollout('        - analysis: { templates: [sequentail] }\n'))), [
      'F:12:35 spec.strategy.canary.steps[0].analysis.templates[0]: unknown analysis template "sequentail" (did you mean "sequential"?; put an AnalysisTemplate in the same file to add one)',
    ]);
    const withTemplate = `${rollout('        - analysis: { templates: [errors-only] }\n')}---
apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: errors-only }
spec: { sequential: {} }
`;
    assert.deepEqual(
      loadDocuments(file(withTemplate)).map((d) => d.kind),
      ['Rollout', 'AnalysisTemplate'],
    );
  });

  it('refuse a baseline step when stable is a fixed list of upstreams and no baseline is given', () => {
    assert.deepEqual(errorsOf(file(rollout('        - setWeight: 5\n        - baseline: {}\n'))), [
      'F:13:21 spec.strategy.canary.steps[1].baseline: stable is a fixed list of upstreams, so kanari cannot start a copy of it; set spec.baseline.upstreams or run stable as a process',
    ]);
    loadKind(
      file(
        rollout(
          '        - setWeight: 5\n        - baseline: {}\n',
          '  baseline: { upstreams: [http://127.0.0.1:9003] }\n',
        ),
      ),
      'Rollout',
    );
  });

  it("check a header route's regex at load time", () => {
    const errors = errorsOf(
      file(rollout('        - setHeaderRoute: { match: { header: x-user, regex: "(a)\\\\1" } }\n')),
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^F:12:\d+ spec\.strategy\.canary\.steps\[0\]\.setHeaderRoute\.match\.regex: /);
  });
});

describe('Rollout files against the router that will carry them out', () => {
  const replicas = REPLICAS;

  it("kanari's own router does every step", () => {
    const path = file(
      rollout(
        `        - setHeaderRoute: { match: { header: x-canary, value: "1" } }
        - setMirror: { percent: 10 }
        - baseline: {}
        - setWeight: 10
`,
        '  sticky: { cookie: u }\n  baseline: { upstreams: [http://127.0.0.1:9003] }\n',
      ),
    );
    assert.equal(loadDocuments(path).length, 1);
  });

  it("a router that cannot do a step is refused by name, at the step's line, before anything runs", () => {
    const path = file(
      rollout(
        `        - setWeight: 10
        - setHeaderRoute: { match: { header: x-canary, value: "1" } }
        - setMirror: { percent: 10 }
`,
        '  sticky: { cookie: u }\n',
      ),
    );
    assert.deepEqual(errorsOf(path, undefined, replicas), [
      'F:8:11 spec.sticky: the replicas router cannot do sticky users (it supports: weights)',
      'F:14:27 spec.strategy.canary.steps[1].setHeaderRoute: the replicas router cannot do header and cookie routes (it supports: weights)',
      'F:15:22 spec.strategy.canary.steps[2].setMirror: the replicas router cannot do mirroring (it supports: weights)',
    ]);
  });

  it('a router that can route by some matches refuses the others at their line (nginx: a cookie only when "always")', () => {
    const steps = (match: string) => `        - setHeaderRoute: { match: ${match} }\n        - setWeight: 10\n`;
    assert.deepEqual(errorsOf(file(rollout(steps('{ cookie: beta, value: yes }'))), undefined, NGINX), [
      'F:12:27 spec.strategy.canary.steps[0].setHeaderRoute: the nginx router cannot route by this match: ingress-nginx sends a cookie to the canary only when its value is "always" (canary-by-cookie)',
    ]);
    assert.equal(loadDocuments(file(rollout(steps('{ cookie: beta, value: always }'))), undefined, NGINX).length, 1);
    assert.equal(loadDocuments(file(rollout(steps('{ header: x-user, prefix: qa- }'))), undefined, NGINX).length, 1);
  });
});
