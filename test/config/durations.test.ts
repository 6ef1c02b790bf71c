/**
 * Every duration in every kind of file, and whether it becomes a Node.js timer (issue 12,
 * finding 6): timers above 2^31−1 ms fire at once, so they are refused at load time;
 * durations the engine counts on its own clock (pauses, deadlines it checks each round)
 * are not timers and are not capped.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDocuments } from '../../src/config/kinds.js';
import { errorsOf, file } from '../helpers/config.js';

const HEAD = (kind: string) => `apiVersion: kanari.dev/v1alpha1\nkind: ${kind}\nmetadata: { name: x }\nspec:\n`;
/** `@` marks where the duration goes. */
const router = (spec: string) =>
  `${HEAD('Router')}  listen: 8080\n  table: { pools: { stable: [http://127.0.0.1:9001] } }\n${spec}`;
const rollout = (spec: string, steps = '        - setWeight: 10\n') =>
  `${HEAD('Rollout')}  listen: 8080\n  stable: { version: v1, process: { command: app } }\n  canary: { process: { command: app } }\n${spec}  strategy:\n    canary:\n      steps:\n${steps}`;
const bg = (strategy: string) =>
  `${HEAD('Rollout')}  listen: 8080\n  stable: { version: v1, process: { command: app } }\n  canary: { process: { command: app } }\n  strategy:\n    blueGreen: { ${strategy} }\n`;
const rolling = (strategy: string) =>
  `${HEAD('Rollout')}  listen: 8080\n  stable: { version: v1, process: { command: app } }\n  canary: { process: { command: app } }\n  strategy:\n    rolling: { ${strategy} }\n`;
const threshold = (metric: string, provider = '{ builtin: { signal: successRate } }') =>
  `${HEAD('AnalysisTemplate')}  threshold:\n    metrics:\n      - { name: m, provider: ${provider}, successCondition: result > 0${metric} }\n`;
const prometheus = (extra: string) => threshold('', `{ prometheus: { address: http://p:9090, query: up, ${extra} } }`);
const kayenta = (extra: string) => `${HEAD('AnalysisTemplate')}  kayenta:
    config: { name: c, metrics: [{ name: e, query: { type: prometheus }, groups: [g], analysisConfigurations: { canary: { direction: increase } } }], classifier: { groupWeights: { g: 100 }, scoreThresholds: { pass: 95, marginal: 75 } } }
    metrics: { e: { builtin: { signal: errorRate } } }
    ${extra}
`;
const simulation = (spec: string, steps = '[{ setWeight: 5 }]') => `${HEAD('Simulation')}  steps: ${steps}\n${spec}`;

/** [the path as reported, the document with @ for the duration] */
const TIMERS: [string, string][] = [
  ['spec.timeouts.connect', router('  timeouts: { connect: @ }\n')],
  ['spec.timeouts.upstreamHeaders', router('  timeouts: { upstreamHeaders: @ }\n')],
  ['spec.timeouts.idle', router('  timeouts: { idle: @ }\n')],
  ['spec.timeouts.clientHeaders', router('  timeouts: { clientHeaders: @ }\n')],
  ['spec.timeouts.clientBody', router('  timeouts: { clientBody: @ }\n')],
  ['spec.health.interval', router('  health: { interval: @ }\n')],
  ['spec.health.timeout', router('  health: { timeout: @ }\n')],
  ['spec.analysisInterval', rollout('  analysisInterval: @\n')],
  ['spec.notifications[0].timeout', rollout('  notifications: [{ url: http://n/, timeout: @ }]\n')],
  ['spec.webhooks[0].timeout', rollout('  webhooks: [{ name: w, type: rollout, url: http://w/, timeout: @ }]\n')],
  ['spec.threshold.metrics[0].provider.prometheus.timeout', prometheus('timeout: @')],
  [
    'spec.threshold.metrics[0].provider.web.timeout',
    threshold('', '{ web: { url: http://w/, jsonPath: $.x, timeout: @ } }'),
  ],
];

/** Durations the engine compares with its clock each round (or a simulation's virtual clock). */
const NOT_TIMERS: [string, string][] = [
  ['spec.passive.ejectFor', router('  passive: { ejectFor: @ }\n')],
  ['pause.duration', rollout('', '        - setWeight: 10\n        - pause: { duration: @ }\n')],
  ['spec.progressDeadline', rollout('  progressDeadline: @\n')],
  [
    'process.startTimeout',
    rollout('').replace(
      'canary: { process: { command: app } }',
      'canary: { process: { command: app, startTimeout: @ } }',
    ),
  ],
  [
    'process.stopTimeout',
    rollout('').replace(
      'canary: { process: { command: app } }',
      'canary: { process: { command: app, stopTimeout: @ } }',
    ),
  ],
  ['blueGreen.autoPromotionDelay', bg('autoPromotionDelay: @')],
  ['blueGreen.scaleDownDelay', bg('scaleDownDelay: @')],
  ['rolling.minReady', rolling('minReady: @')],
  ['threshold interval', threshold(', interval: @')],
  ['threshold initialDelay', threshold(', initialDelay: @')],
  ['prometheus window', prometheus('window: @')],
  [
    'sequential slow threshold',
    `${HEAD('AnalysisTemplate')}  sequential: { metrics: [{ name: s, kind: slow, threshold: @ }] }\n`,
  ],
  ['kayenta interval, step and lookback', kayenta('interval: @\n    step: @\n    lookback: @')],
  [
    'simulation pause, latency, change, bursts and clients',
    simulation(
      '  canary: { latency: { median: @ }, changes: [{ at: @ }] }\n  traffic: { diurnal: { amplitude: 0.5, period: @ }, bursts: { every: @, duration: @, rate: 10 }, clients: [{ rate: 1, active: { every: @, for: @, offset: @ } }] }\n',
      '[{ setWeight: 5 }, { pause: { duration: @ } }]',
    ),
  ],
];

const LIMIT = '596h31m23.647s';

describe('durations that become timers', () => {
  for (const [path, doc] of TIMERS) {
    it(`${path}: refused above 2^31−1 ms at its line, taken at it`, () => {
      const [line, ...rest] = errorsOf(file(doc.replaceAll('@', '800h')));
      assert.deepEqual(rest, []);
      assert.match(
        line!,
        new RegExp(
          `^F:\\d+:\\d+ ${path.replace(/[.[\]]/g, '\\$&')}: must be at most ${LIMIT}, about 24\\.8 days: the longest a Node\\.js timer can wait \\(got "800h"\\)$`,
        ),
      );
      assert.match(errorsOf(file(doc.replaceAll('@', '596h31m23.648s')))[0]!, /must be at most/);
      assert.equal(loadDocuments(file(doc.replaceAll('@', LIMIT))).length, 1);
    });
  }
});

describe('durations that are not timers', () => {
  for (const [what, doc] of NOT_TIMERS) {
    it(`${what}: 800h is taken`, () => {
      assert.equal(loadDocuments(file(doc.replaceAll('@', '800h'))).length, 1);
    });
  }
});

describe('every duration', () => {
  it('is refused when it is too long to count in milliseconds', () => {
    assert.match(
      errorsOf(file(rollout('', `        - pause: { duration: ${'9'.repeat(400)}h }\n`)))[0]!,
      /pause\.duration: is too long to count in milliseconds/,
    );
  });
});

describe('durations that step or divide a loop', () => {
  // A zero here hung the process: the builtin provider steps through a window by `step`, the simulator divides by `period`.
  const ZERO: [string, string][] = [
    ['spec.kayenta.step', kayenta('step: 0s')],
    ['spec.kayenta.interval', kayenta('interval: 0s\n    step: 0s')],
    ['spec.traffic.diurnal.period', simulation('  traffic: { diurnal: { amplitude: 0.5, period: 0s } }\n')],
    ['spec.traffic.bursts.every', simulation('  traffic: { bursts: { every: 0ms, duration: 1s, rate: 10 } }\n')],
    [
      'spec.traffic.clients[0].active.every',
      simulation('  traffic: { clients: [{ rate: 1, active: { every: 0s, for: 0s } }] }\n'),
    ],
  ];
  for (const [path, doc] of ZERO) {
    it(`${path}: 0 is refused at its line`, () => {
      assert.match(
        errorsOf(file(doc)).join('\n'),
        new RegExp(`^F:\\d+:\\d+ ${path.replace(/[.[\]]/g, '\\$&')}: must be longer than 0`, 'm'),
      );
    });
  }
});
