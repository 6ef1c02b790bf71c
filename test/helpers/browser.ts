/**
 * Headless Chromium (Debian's, installed when missing) driven by playwright-core, for the
 * dashboard's tests: the dashboard built when its sources are newer than dist/web, one
 * browser per test file, pages at a laptop's size, an axe-core scan,
 * and screenshots kept as test artifacts in test-results/screenshots/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const SCREENSHOTS = join(REPO, 'test-results', 'screenshots');

/**
 * Builds dist/web when a file of web/ is newer than its index.html (a test of the dashboard
 * tests what is there). Before a controller starts: it reads dist/web once, at start.
 */
export function ensureDashboardBuilt(): void {
  const built = join(REPO, 'dist', 'web', 'index.html');
  const newest = Math.max(
    ...readdirSync(join(REPO, 'web'), { recursive: true }).map((f) => statSync(join(REPO, 'web', String(f))).mtimeMs),
  );
  if (existsSync(built) && statSync(built).mtimeMs >= newest) return;
  const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'build-web.mjs')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the dashboard failed:\n${r.stdout}${r.stderr}`);
}

export async function launchBrowser(): Promise<Browser> {
  ensureDebian([['chromium', 'chromium']]);
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
}

/** Errors the pages printed or threw. */
export const pageErrors: string[] = [];

/**
 * A page at 1280×800, signed in with `token` at `base` as a person's browser is (a session
 * cookie from `POST /auth/sign-in`, so every request the dashboard makes carries the cookie
 * and its CSRF token, as in use), or signed in as nobody.
 */
export async function openPage(browser: Browser, opts: { token?: string; base?: string } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  if (opts.token !== undefined) {
    if (opts.base === undefined) throw new Error('openPage: a token needs the base address to sign in at');
    const signIn = await context.request.post(`${opts.base}/auth/sign-in`, { data: { token: opts.token } });
    if (signIn.status() !== 204) throw new Error(`signing in answered ${signIn.status()}: ${await signIn.text()}`);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  // What went wrong in the page, for a failure's message (and as it happens with KANARI_TEST_BROWSER_LOG=1).
  const said = (line: string) => {
    pageErrors.push(line);
    if (process.env.KANARI_TEST_BROWSER_LOG) console.error(`[page] ${line}`);
  };
  page.on('pageerror', (e) => said(`error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && said(`console: ${m.text()}`));
  return page;
}

/** The axe-core violations of impact serious or critical on the page as it is now. */
export async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol: the dashboard's CSP (script-src 'self') rightly refuses an inline <script>.
  await page.evaluate(readFileSync(join(REPO, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8'));
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: {
          run: () => Promise<{
            violations: { id: string; impact: string; help: string; nodes: { target: unknown }[] }[];
          }>;
        };
      }
    ).axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target).slice(0, 3))}`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
