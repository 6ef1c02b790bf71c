// Builds the dashboard into dist/web: the browser TypeScript (web/, its own tsconfig) as ES
// modules, index.html and the stylesheet beside them, and uPlot's ES module and CSS copied
// from node_modules, so the controller serves everything itself and nothing is fetched at
// run time (docs/dashboard.md).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const built = spawnSync(process.execPath, [tsc, '-p', join(root, 'web', 'tsconfig.json')], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);
mkdirSync(join(out, 'assets', 'vendor'), { recursive: true });
copyFileSync(join(root, 'web', 'dashboard.css'), join(out, 'assets', 'dashboard.css'));
const uplot = join(root, 'node_modules', 'uplot', 'dist');
copyFileSync(join(uplot, 'uPlot.esm.js'), join(out, 'assets', 'vendor', 'uPlot.esm.js'));
copyFileSync(join(uplot, 'uPlot.min.css'), join(out, 'assets', 'vendor', 'uPlot.min.css'));
// Every module named in the page, so the browser fetches them at once instead of one level
// of imports after another (entry, page, charts, uPlot).
const modules = readdirSync(join(out, 'assets'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.js'))
  .sort()
  .map((f) => `    <link rel="modulepreload" href="/assets/${f.split('\\').join('/')}" />`);
const page = readFileSync(join(root, 'web', 'index.html'), 'utf8');
if (!page.includes('<!-- modulepreload -->')) throw new Error('web/index.html lost its <!-- modulepreload --> line');
writeFileSync(join(out, 'index.html'), page.replace('    <!-- modulepreload -->', modules.join('\n')));
