import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { dir, errorsOf, file } from '../helpers/config.js';
import { loadKind } from '../../src/config/kinds.js';
import { parseDuration } from '../../src/config/duration.js';
import { providersOf } from '../../src/config/templates.js';

const GOOD = `apiVersion: kanari.dev/v1alpha1
kind: Router
metadata: { name: checkout }
spec:
  listen: 8080
  table:
    pools:
      stable: [http://127.0.0.1:9001]
      canary: [http://127.0.0.1:9002]
    weights: { canary: 5 }
`;

describe('config loading', () => {
  it('accepts a valid Router and fills defaults', () => {
    const doc = loadKind(file(GOOD), 'Router');
    assert.deepEqual(doc.spec.listen, { host: '0.0.0.0', port: 8080 });
    assert.equal(doc.spec.table.weights.canary, 5);
    assert.equal(doc.spec.table.weights.baseline, 0);
    assert.equal(doc.spec.timeouts.connect, 2000);
    assert.deepEqual(doc.spec.admin.listen, { host: '127.0.0.1', port: 9901 });
  });

  it('locates each wrong value with line, column, path and what it got', () => {
    const path = file(
      GOOD.replace('canary: 5 }', 'canary: 150 }').replace('listen: 8080', 'listen: 8080\n  timeouts: { connect: 2 }'),
    );
    assert.deepEqual(errorsOf(path), [
      'F:6:24 spec.timeouts.connect: must be a duration such as 500ms, 2s or 5m (got 2)',
      'F:11:24 spec.table.weights.canary: must be between 0 and 100 (got 150)',
    ]);
  });

  it('rejects unknown keys at the key, with a suggestion when one is close', () => {
    assert.deepEqual(errorsOf(file(GOOD.replace('  listen: 8080', '  listen: 8080\n  stiky: { cookie: k }'))), [
      'F:6:3 spec.stiky: unknown key (did you mean "sticky"?)',
    ]);
    assert.deepEqual(errorsOf(file(GOOD.replace('  listen: 8080', '  listen: 8080\n  zzz: 1'))).length, 1);
    assert.match(
      errorsOf(file(GOOD.replace('  listen: 8080', '  listen: 8080\n  zzz: 1')))[0]!,
      /spec\.zzz: unknown key \(expected one of: listen, admin, /,
    );
  });

  it('names an unknown kind and suggests the close one', () => {
    assert.deepEqual(errorsOf(file(GOOD.replace('kind: Router', 'kind: Ruoter'))), [
      'F:2:7 kind: unknown kind (got "Ruoter"; did you mean "Router"?)',
    ]);
  });

  it('reports YAML syntax errors and duplicate keys with their position', () => {
    assert.match(errorsOf(file('a: [1,\nb: 2\n'))[0]!, /^F:2:1 /);
    assert.deepEqual(errorsOf(file(GOOD.replace('  listen: 8080', '  listen: 8080\n  listen: 8081'))), [
      'F:6:3 spec.listen: duplicate key',
    ]);
  });

  it('requires missing keys where the parent is', () => {
    assert.deepEqual(errorsOf(file(GOOD.replace(/ {2}listen: 8080\n/, ''))), ['F:5:3 spec.listen: is required']);
  });

  it('checks the table across fields: weights need endpoints, shares sum to at most 100', () => {
    const noCanary = GOOD.replace('      canary: [http://127.0.0.1:9002]\n', '');
    assert.deepEqual(errorsOf(file(noCanary)), [
      'F:9:24 spec.table.weights.canary: has no endpoints in pools.canary (got 5)',
    ]);
    const tooMuch = GOOD.replace(
      '      canary: [http://127.0.0.1:9002]\n',
      '      canary: [http://127.0.0.1:9002]\n      baseline: [http://127.0.0.1:9003]\n',
    ).replace('canary: 5 }', 'canary: 60, baseline: 50 }');
    assert.match(
      errorsOf(file(tooMuch))[0]!,
      /spec\.table\.weights: canary and baseline together must be at most 100 \(got 110\)/,
    );
  });

  it('refuses regexes that could not run in linear time, and admin addresses off loopback', () => {
    const rules = GOOD.replace(
      '    weights: { canary: 5 }',
      '    match:\n      - header: { name: x-beta, regex: "(a)\\\\1" }\n        version: canary',
    );
    assert.match(
      errorsOf(file(rules))[0]!,
      /spec\.table\.match\[0\]\.header\.regex: uses a backreference \(\\1, \\k<name>\), which needs backtracking/,
    );
    const admin = GOOD.replace('  listen: 8080', '  listen: 8080\n  admin: { listen: "0.0.0.0:9901" }');
    assert.match(errorsOf(file(admin))[0]!, /F:6:20 spec\.admin\.listen: must be a loopback host:port/);
  });

  it('lists the first 20 issues and counts the rest, so thousands of mistakes cost no more than a few', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `  k${i}: 1`).join('\n');
    const lines = errorsOf(file(GOOD.replace('  listen: 8080', `  listen: 8080\n${keys}`)));
    assert.equal(lines.length, 21);
    assert.match(lines[0]!, /^F:6:3 spec\.k0: unknown key/);
    assert.equal(lines[20], 'F:26:3 4980 more issues from here on, not shown');
  });

  it('says which of several exclusive keys clash', () => {
    const both = GOOD.replace('  listen: 8080', '  listen: 8080\n  sticky: { cookie: a, header: x-user }');
    assert.deepEqual(errorsOf(file(both)), [
      'F:6:11 spec.sticky: set exactly one of cookie, header, clientAddress, perRequest (got cookie and header)',
    ]);
  });

  it('reports a missing file as a config error, not a crash', () => {
    assert.deepEqual(errorsOf(join(dir, 'nope.yaml')), ['F:1:1 file not found']);
  });
});

describe('durations', () => {
  for (const [text, ms] of [
    ['250ms', 250],
    ['2s', 2000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
  ] as const) {
    it(`parses ${text}`, () => assert.equal(parseDuration(text), ms));
  }
  for (const text of ['2', 's', '1d', '-1s', '1s '])
    it(`rejects ${JSON.stringify(text)}`, () => assert.equal(parseDuration(text), undefined));
});

describe('AnalysisTemplate with a Kayenta canary config', () => {
  const template = (config: string, metrics: string) =>
    file(`apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: k }
spec:
  kayenta:
    config: ${config}
    metrics:
${metrics}
`);

  it('reads the config file relative to the template', () => {
    writeFileSync(join(dir, 'canary.json'), JSON.stringify({ metrics: [{ name: 'errors' }] }));
    const doc = loadKind(
      template('canary.json', '      errors: { builtin: { signal: errorRate } }'),
      'AnalysisTemplate',
    );
    assert.deepEqual(
      (doc.spec.kayenta!.config as { metrics: { name: string }[] }).metrics.map((m) => m.name),
      ['errors'],
    );
  });

  it('points at the template when a metric has no source or the file is missing', () => {
    writeFileSync(join(dir, 'two.json'), JSON.stringify({ metrics: [{ name: 'errors' }, { name: 'latency' }] }));
    assert.deepEqual(errorsOf(template('two.json', '      errors: { builtin: { signal: errorRate } }')), [
      'F:8:7 spec.kayenta.metrics: no source for the canary config\'s metric "latency"; add it under metrics',
    ]);
    const missing = errorsOf(template('nope.json', '      errors: { builtin: { signal: errorRate } }'));
    assert.match(
      missing[0]!,
      /^F:6:13 spec\.kayenta\.config: cannot read the canary config .*nope\.json: file not found$/,
    );
  });

  it('reports a mistake inside the canary config at its own line', () => {
    writeFileSync(
      join(dir, 'bad.json'),
      '{\n  "metrics": [\n    { "name": "errors", "analysisConfigurations": { "canary": { "direction": "upward" } } }\n  ]\n}\n',
    );
    const [line] = errorsOf(template('bad.json', '      errors: { builtin: { signal: errorRate } }'));
    assert.match(line!, /bad\.json:3:\d+ metrics\[0\]\.analysisConfigurations\.canary\.direction: /);
  });
});

describe('AnalysisTemplate with the series judge', () => {
  const template = (body: string) =>
    file(`apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: s }
spec:
  series:
${body}
`);
  const metric = '      - { name: errors, provider: { builtin: { signal: errorRate } } }';

  it('loads with its defaults: worse is an increase, α 0.05, one look after 5 minutes of 10 s points', () => {
    const spec = loadKind(template(`    metrics:\n${metric}`), 'AnalysisTemplate').spec.series!;
    assert.deepEqual(
      [spec.alpha, spec.interval, spec.step, spec.count, spec.minPoints, spec.metrics[0]!.worse],
      [0.05, 300_000, 10_000, 1, 10, 'increase'],
    );
  });

  it('names the providers its metrics read, so the simulator can refuse what it cannot answer', () => {
    const web =
      "      - { name: orders, provider: { web: { url: 'http://x/{{target}}', jsonPath: $.n } }, worse: decrease }";
    const spec = loadKind(template(`    metrics:\n${metric}\n${web}`), 'AnalysisTemplate').spec;
    assert.deepEqual(providersOf(spec), ['builtin', 'web']);
  });

  it('points at what cannot work', () => {
    assert.deepEqual(errorsOf(template(`    interval: 1m\n    step: 10s\n    metrics:\n${metric}`)), [
      'F:6:5 spec.series.minPoints: the last look has 6 point(s) (interval × count / step), fewer than minPoints, so it could never judge; lengthen interval or count, or shorten step (got 10)',
    ]);
    assert.deepEqual(errorsOf(template(`    metrics:\n${metric}\n${metric}`)), [
      'F:8:17 spec.series.metrics[1].name: this metric name is used twice (got "errors")',
    ]);
    assert.deepEqual(
      errorsOf(
        template(`    metrics:\n      - { name: e, worse: up, provider: { builtin: { signal: errorRate } } }`),
      ).map((l) => l.replace(/: .*/, ':')),
      ['F:7:27 spec.series.metrics[0].worse:'],
    );
  });
});
