// The layer rules (.dependency-cruiser.mjs) run as `npm run layers` inside `npm test` on the
// real tree. Here they run on small trees made on purpose, so a rule that silently stopped
// matching (a renamed folder, a regex slip) fails this test instead of passing everything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { ESLint } from 'eslint';

const repo = resolve(import.meta.dirname, '..');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Writes `files` into a fresh tree and runs the repository's rules on its src/. */
function cruise(files: Record<string, string>): { code: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kanari-layers-'));
  dirs.push(dir);
  const tsconfig = { compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true } };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const bin = join(repo, 'node_modules', '.bin', 'depcruise');
  const r = spawnSync(bin, ['src', '--config', join(repo, '.dependency-cruiser.mjs')], { cwd: dir, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('layer rules', () => {
  it('pass a tree whose imports all point down', () => {
    const r = cruise({
      'src/shared/snapshot.ts': 'export interface Snapshot { n: number }\n',
      'src/config/schema.ts': "import type { Snapshot } from '../shared/snapshot.js';\nexport type S = Snapshot;\n",
      'src/analysis/judge.ts': "import type { S } from '../config/schema.js';\nexport const judge = (s: S) => s.n;\n",
      'src/router/split.ts': "import type { S } from '../config/schema.js';\nexport const split = (s: S) => s;\n",
      'src/cli/main.ts':
        "import { judge } from '../analysis/judge.js';\nimport { split } from '../router/split.js';\nexport { judge, split };\n",
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /no dependency violations found/);
  });

  it('fail an inverted import, a type-only one too, a cycle, the data plane reaching up, and an unplaced folder', () => {
    const r = cruise({
      'src/analysis/judge.ts': 'export const judge = 1;\n',
      'src/rollout/machine.ts': 'export interface Status { phase: string }\n',
      'src/config/schema.ts': "import { judge } from '../analysis/judge.js';\nexport const n = judge;\n",
      'src/shared/contract.ts': "import type { Status } from '../rollout/machine.js';\nexport type C = Status;\n",
      'src/router/dataplane.ts': "import { judge } from '../analysis/judge.js';\nexport const d = judge;\n",
      'src/store/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'src/store/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
      'src/flags/eval.ts': 'export const flag = true;\n',
      'src/cli/main.ts': "import { flag } from '../flags/eval.js';\nexport const f = flag;\n",
    });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /config-imports-only-below: src\/config\/schema\.ts → src\/analysis\/judge\.ts/);
    assert.match(r.out, /shared-imports-only-below: src\/shared\/contract\.ts → src\/rollout\/machine\.ts/);
    assert.match(r.out, /router-imports-only-below: src\/router\/dataplane\.ts → src\/analysis\/judge\.ts/);
    assert.match(r.out, /no-cycles: src\/store\/(a|b)\.ts/);
    assert.match(r.out, /no-unknown-layer-imported: src\/cli\/main\.ts → src\/flags\/eval\.ts/);
  });

  it('fail a file at the root of src/ (in no layer, it could bridge any two) and an import() whose target is computed', async () => {
    const r = cruise({
      'src/cli/exit.ts': 'export const EXIT = 2;\n',
      'src/bridge.ts': "export { EXIT } from './cli/exit.js';\n",
      'src/shared/files.ts': "export { EXIT } from '../bridge.js';\n",
    });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /src\/shared\/files\.ts → src\/bridge\.ts/);
    assert.match(r.out, /src\/bridge\.ts → src\/cli\/exit\.ts/);
    const lint = await new ESLint({ cwd: repo }).lintText(
      "const m = '../cli/exit.js';\nexport const load = () => import(m);\nexport const ok = () => import('./sketch.js');\n",
      { filePath: join(repo, 'src/shared/dyn.ts') },
    );
    const messages = lint[0]!.messages.map((m) => `${m.line}: ${m.message}`);
    assert.deepEqual(messages, ['2: computed-import: write the module path out, so the layer rules can check it']);
  });
});
