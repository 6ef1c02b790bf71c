/**
 * `kanari lint` as a person runs it, on files written to hurt it (issue 12): every bad
 * file gets `file:line:col path: reason` lines and exit 2, never exit 70 or a stack.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { upstreamRollout } from '../helpers/config.js';
import { billionLaughs, DEEP_DOCUMENTS, hugeBlockMap, hugeFlowList } from '../helpers/hostile.js';

const dir = mkdtempSync(join(tmpdir(), 'kanari-lint-'));
let n = 0;
const write = (text: string, name = `f${n++}.yaml`) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

type Issue = { file: string; line: number; col: number; path: string; message: string };
/** `kanari lint --json FILES` in one process: the exit code and each file's issues as printed lines. */
function lintJson(files: string[]): { status: number; issues: string[][]; stderr: string } {
  const r = runCli(['lint', '--json', ...files]);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'a stack trace');
  const out = r.stdout ? (JSON.parse(r.stdout) as { files: { issues?: Issue[] }[] }) : { files: [] };
  return {
    status: r.status,
    stderr: r.stderr,
    issues: out.files.map((f) => (f.issues ?? []).map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`)),
  };
}

/** `kanari lint FILE`: exit 2 and exactly `lines` on stderr (the file's path shown as F). */
function refuses(file: string, lines: string[]): void {
  const r = runCli(['lint', file]);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.deepEqual(
    r.stderr
      .trimEnd()
      .split('\n')
      .map((l) => l.replace(file, 'F')),
    lines,
  );
}

const ROUTER = `apiVersion: kanari.dev/v1alpha1
kind: Router
metadata: { name: shop }
spec:
  listen: 8080
  table: { pools: { stable: [http://127.0.0.1:9001] } }
`;

const ROLLOUT = upstreamRollout('shop', 8080, ['setWeight: 10', 'pause: { duration: 800h }']);

/** A threshold template whose one metric has `condition` as its successCondition (line 9, column 27). */
const thresholdTemplate = (condition: string) => `apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: t }
spec:
  threshold:
    metrics:
      - name: m
        provider: { builtin: { signal: successRate } }
        successCondition: ${condition}
`;

describe('kanari lint: deep and wide files (finding 3)', () => {
  it('refuses each deeply nested file at its place, twice over in one process, exit 2', () => {
    const files = Object.values(DEEP_DOCUMENTS).flatMap((text) => [write(text), write(text)]);
    const r = lintJson(files);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.issues.length, files.length);
    for (const issues of r.issues) assert.match(issues.join('\n'), /^\d+:\d+ : nests deeper than 64 levels$/);
  });

  it('refuses a file with more keys and values than any kanari file needs, exit 2', () => {
    const r = lintJson([write(hugeFlowList(400_000)), write(hugeBlockMap(25_000))]);
    assert.equal(r.status, 2, r.stderr);
    assert.deepEqual(r.issues, [
      ['1:40000 : holds more than 20000 keys and values'],
      ['10001:1 : holds more than 20000 keys and values'],
    ]);
  });
});

describe('kanari lint: timers (finding 6)', () => {
  it('refuses a timeout longer than Node can time, at its line, exit 2', () => {
    refuses(write(ROUTER.replace('  listen: 8080\n', '  listen: 8080\n  timeouts: { upstreamHeaders: 800h }\n')), [
      'F:6:32 spec.timeouts.upstreamHeaders: must be at most 596h31m23.647s, about 24.8 days: the longest a Node.js timer can wait (got "800h")',
    ]);
  });

  it('takes a pause of 800h: a pause is not a timer', () => {
    const r = runCli(['lint', write(ROLLOUT)]);
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('kanari lint: aliases and conditions (finding 10)', () => {
  it('refuses an undefined alias at its place, exit 2', () => {
    refuses(write(ROUTER.replace('[http://127.0.0.1:9001]', '*pool')), [
      'F:6:29 spec.table.pools.stable: alias *pool names no anchor defined before it',
    ]);
  });

  it('refuses the billion laughs and a flood of aliases at their place, exit 2', () => {
    refuses(write(billionLaughs()), ['F:5:11 e[1]: aliases expand this document to more than 20000 values']);
    refuses(write(`a: &a 1\nb: [${Array(101).fill('*a').join(', ')}]\n`), ['F:2:405 uses more than 100 aliases']);
  });

  it('refuses a condition nested 5,000 parentheses deep at its line, exit 2', () => {
    refuses(write(thresholdTemplate(`"${'('.repeat(5000)}result${')'.repeat(5000)} >= 1"`)), [
      `F:9:27 spec.threshold.metrics[0].successCondition: nests deeper than 32 levels at column 33 (got "${'('.repeat(56)}...)`,
    ]);
  });
});

describe('kanari lint: what apply or simulate refuses (finding 11)', () => {
  it('refuses an empty and a comment-only file, exit 2', () => {
    refuses(write(''), ['F:1:1 holds no document']);
    refuses(write('# a Rollout goes here\n\n'), ['F:1:1 holds no document']);
  });

  it('refuses listen: 0 in a Rollout, and two Rollouts on one port, exit 2', () => {
    refuses(write(ROLLOUT.replace('listen: 8080', 'listen: 0')), [
      'F:5:11 spec.listen: needs a fixed port that users can reach (got 0)',
    ]);
    refuses(write(`${ROLLOUT}---\n${ROLLOUT.replace('name: shop', 'name: cart')}`), [
      'F:18:11 spec.listen: port 8080 is also where rollout shop listens',
    ]);
  });

  it('refuses a Simulation naming a template found nowhere, and takes it with the file that holds it', () => {
    refuses('test/fixtures/simulation-unknown-template.yaml', [
      'F:6:15 spec.templates[0]: names template "kayenta-strict", which is neither built in nor in the files given (known: sequential, threshold, kayenta, series)',
    ]);
    const r = runCli(['lint', 'test/fixtures/simulation-unknown-template.yaml', 'examples/analysis/kayenta.yaml']);
    assert.equal(r.status, 0, r.stderr);
  });

  it('says why (.*a){20} is refused: its count, not a backreference', () => {
    refuses(
      write(
        ROUTER.replace(
          '[http://127.0.0.1:9001] }',
          '[http://127.0.0.1:9001] }, match: [{ header: { name: x, regex: "(.*a){20}" }, version: stable }]',
        ),
      ),
      [
        'F:6:92 spec.table.match[0].header.regex: repeats a part 20 times ({20}); the linear-time engine that runs match rules copies a counted repeat out and allows at most 16 copies (counts inside counts multiply); use * or + instead (got "(.*a){20}")',
      ],
    );
  });
});

describe('kanari lint: NUL characters (config fuzz)', () => {
  it('refuses a NUL in a value at its place, exit 2: no setting takes one, and a command or path with one fails only when used', () => {
    refuses(write(ROUTER.replace('name: shop', 'name: "sh\\0op"')), [
      'F:3:19 metadata.name: holds a NUL character (\\u0000), which no kanari setting takes',
    ]);
    refuses(
      write(ROLLOUT.replace('upstreams: [http://127.0.0.1:9002]', 'process: { command: "node app.js\\0--evil" }')),
      ['F:7:33 spec.canary.process.command: holds a NUL character (\\u0000), which no kanari setting takes'],
    );
  });
});

describe('kanari lint: one line per issue (config fuzz)', () => {
  it('escapes control and invisible characters, and cuts a long key short, so each issue stays one readable line', () => {
    refuses(write(`${ROUTER}"bad\\u2028key\\u0007\\ufeff": 1\n`), [
      'F:7:1 ["bad\\u2028key\\u0007\\ufeff"]: unknown key (expected one of: apiVersion, kind, metadata, spec)',
    ]);
    refuses(write(`${ROUTER}? ${'k'.repeat(100_000)}\n: 1\n`), [
      `F:7:3 ["${'k'.repeat(57)}..."]: unknown key (expected one of: apiVersion, kind, metadata, spec)`,
    ]);
  });

  it('refuses a file of more than 100 documents', () => {
    refuses(write('---\na: 1\n'.repeat(101)), ['F:201:1 holds more than 100 documents']);
  });
});

describe('kanari lint: numbers JSON cannot keep (config fuzz)', () => {
  it('refuses .inf and .nan wherever they are, even where the schema lets any value through', () => {
    const template = `apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: k }
spec:
  kayenta:
    config: { name: c, templates: { t: .inf }, metrics: [{ name: e, groups: [g] }], classifier: { groupWeights: { g: 100 } } }
    metrics: { e: { builtin: { signal: errorRate } } }
`;
    refuses(write(template), [
      'F:6:40 spec.kayenta.config.templates.t: must be a finite number (got Infinity): kanari keeps documents as JSON, which has none',
    ]);
  });
});

describe('kanari lint: names a condition cannot know (config fuzz)', () => {
  it('refuses a condition reading a name other than result and control, at its line', () => {
    refuses(write(thresholdTemplate('reslt >= 0.99')), [
      'F:9:27 spec.threshold.metrics[0].successCondition: reads "reslt", which a condition does not know (it knows result, and control: the same query about stable or the baseline) (got "reslt >= 0.99")',
    ]);
  });
});
