/**
 * The dashboard in real headless Chromium against a real `kanari up` with a rollout of
 * process targets under load: the list and the rollout page draw what the API says; a
 * paused release is promoted through the confirmation dialog; a bad release rolls back
 * while the page watches, without reloading; a viewer sees no enabled action; axe-core
 * finds nothing serious in light or dark mode; each page is saved as a screenshot.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startLoad } from '../../src/demo/load.js';
import { appCommand, appRollout, listenPort, successRateEverySecond, UpFixture } from '../helpers/controller.js';
import { ensureDashboardBuilt, launchBrowser, openPage, screenshot, seriousViolations } from '../helpers/browser.js';

const f = new UpFixture();
let browser: Browser;
let base: string;
let admin: string;
let load: ReturnType<typeof startLoad> | undefined;

/**
 * The built-in sequential template (errors and latency) with α = 3e-5 instead of 0.05: v2 is
 * the same app as v1, judged per user (200 of them, 30% on v2) for as long as the tests before
 * the promotion take, and at 0.05 that A/A comparison rolls v2 back by chance up to about one
 * run in 200 (latency's three quantiles, each user counted once). At 3e-5, under 1e-5; v3's
 * 50% errors are caught as fast.
 */
const SEQUENTIAL = `---
apiVersion: kanari.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: sequential }
spec:
  sequential: { alpha: 0.00003 }
`;

/** Fails a rollout whose canary answers less than 80% of its users' requests well, each second it is watched. */
const WATCH = successRateEverySecond('watch', [
  'failureCondition: result < 0.8',
  'inconclusiveLimit: 100000',
  'consecutiveErrorLimit: 100000',
]);

before(async () => {
  ensureDashboardBuilt();
  const port = await listenPort();
  const strategy = `  strategy:
    canary:
      analysis: { templates: [sequential, watch] }
      steps:
        - setWeight: 30
        - pause: {}
`;
  const [, started] = await Promise.all([
    (async () => {
      await f.up();
      load = startLoad({ host: '127.0.0.1', port }, { users: 200, concurrency: 2 });
      // Through the API rather than the CLI: each CLI process takes seconds to start on a busy machine.
      const file = f.write('shop.yaml', appRollout('shop', port, strategy) + SEQUENTIAL + WATCH);
      await f.api.post('/api/v1/apply', { file, text: readFileSync(file, 'utf8') });
      await f.until('shop', (v) => v.phase === 'StableOnly' && f.record('shop', 'router') !== undefined);
      await f.api.post('/api/v1/rollouts/shop/deploy', { version: 'v2' });
      await f.until('shop', (v) => v.phase === 'Paused' && v.weights.canary === 30);
    })(),
    launchBrowser(),
  ]);
  browser = started;
  base = (JSON.parse(readFileSync(join(f.state, 'controller.json'), 'utf8')) as { url: string }).url;
  admin = readFileSync(join(f.state, 'api-token'), 'utf8').trim();
});
after(async () => {
  await load?.stop();
  await browser?.close();
  await f.close();
});

/** Polls `check` in the page until it holds (a live update arrives by itself, never by a reload). */
async function until(page: Page, what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`the page never showed ${what}:\n${await page.locator('main').innerText()}\n${f.log()}`);
    await page.waitForTimeout(200);
  }
}

/** No serious axe violation in light mode and then in dark, with a screenshot of each. */
async function bothSchemes(page: Page, name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    // The charts are drawn again in the scheme's colours.
    if ((await page.locator('.charts').count()) > 0) await page.locator(`.charts[data-scheme="${scheme}"]`).waitFor();
    assert.deepEqual(await seriousViolations(page), [], scheme);
    await screenshot(page, `${name}-${scheme}`);
  }
}

describe('the dashboard in Chromium', () => {
  it('lists the rollout, filters by phase and name in the address, and passes axe in light and dark mode', async () => {
    const page = await openPage(browser, { token: admin, base });
    await page.goto(base);
    const row = page.locator('tr[data-rollout="shop"]');
    await row.waitFor();
    assert.match(await row.innerText(), /shop\s+Paused\s+30%\s+2 of 2/);
    await page.fill('#search', 'nothing');
    assert.equal(await row.count(), 0);
    assert.match(page.url(), /\?q=nothing$/);
    await page.fill('#search', 'sho');
    await page.selectOption('#phase', 'Paused');
    assert.equal(await row.count(), 1);
    assert.match(page.url(), /\?q=sho&phase=Paused$/);
    await bothSchemes(page, 'rollouts');
    await page.context().close();
  });

  it('draws a rollout: lifecycle, weights, steps, charts with the evidence, the report; axe finds nothing serious', async () => {
    const page = await openPage(browser, { token: admin, base });
    await page.goto(`${base}/rollouts/shop`);
    await page.locator('.lifecycle li.lit', { hasText: 'Paused' }).waitFor();
    assert.equal(await page.locator('.legend').getAttribute('data-weights'), '70/30/0');
    assert.match(await page.locator('.steps li.current').innerText(), /pause/i);
    await page.locator('figure[data-chart="evidence"] canvas').waitFor();
    for (const chart of ['requests', 'errors', 'latency'])
      await page.locator(`figure[data-chart="${chart}"] canvas`).waitFor();
    // The sequential run's report: each metric with its effect (none while neither version has errors), interval and evidence.
    await page.locator('.analysis-list button', { hasText: /sequential/ }).click();
    const errors = page
      .locator('.report caption', { hasText: 'sequential' })
      .locator('xpath=..')
      .locator('tr', { hasText: 'errors' });
    assert.match(
      await errors.innerText(),
      /errors\s+Running\s+(×[\d.]+ \(\w+\)|–)\s+\[[\d.]+, [\d.]+\]\s+E = [\d.]+ of 50000/,
    );
    await bothSchemes(page, 'rollout');

    // By keyboard: a control opens its confirmation with focus inside it, and Escape cancels it.
    await page.focus('[data-command="abort"]');
    await page.keyboard.press('Enter');
    await page.locator('dialog[open]').waitFor();
    assert.equal(await page.locator('dialog :focus').count(), 1, 'focus is in the dialog');
    await page.keyboard.press('Escape');
    await page.locator('dialog').waitFor({ state: 'detached' });
    assert.equal((await f.view('shop')).phase, 'Paused', 'nothing was sent');
    await page.context().close();
  });

  it('shows a viewer every action disabled, and says why', async () => {
    const { token } = await f.api.post<{ token: string }>('/api/v1/tokens', { name: 'watcher', role: 'viewer' });
    const page = await openPage(browser, { token, base });
    await page.goto(`${base}/rollouts/shop`);
    await page.locator('[data-command="promote"]').waitFor();
    const buttons = page.locator('[data-command]');
    assert.ok((await buttons.count()) >= 7);
    for (const b of await buttons.all()) assert.equal(await b.isDisabled(), true, await b.innerText());
    assert.match(await page.locator('#actions-why').innerText(), /watcher is a viewer: these need the operator role/);
    await page.context().close();
  });

  it('promotes the paused rollout through the confirmation, then watches a bad release roll back without reloading', async () => {
    const page = await openPage(browser, { token: admin, base });
    await page.goto(`${base}/rollouts/shop`);
    await page.locator('.lifecycle li.lit', { hasText: 'Paused' }).waitFor();
    await page.evaluate(() => ((globalThis as unknown as { stayed: boolean }).stayed = true));

    await page.click('[data-command="promote"]');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Move shop to its next step now\?/);
    await dialog.locator('button[type="submit"]').click();
    await until(page, 'the promotion', async () =>
      /Promoted v2/.test(
        await page
          .locator('.notes')
          .innerText()
          .catch(() => ''),
      ),
    );
    await until(page, 'who promoted', async () =>
      /promote\s+local/.test(await page.locator('table.history').innerText()),
    );

    // Half of v3's requests fail (through the API: a CLI process would take seconds to start).
    await f.api.post('/api/v1/rollouts/shop/deploy', {
      version: 'v3',
      set: { 'canary.process.command': appCommand('--error-rate 0.5') },
    });
    await until(
      page,
      'the canary getting users',
      async () => (await page.locator('.legend').getAttribute('data-weights')) === '70/30/0',
    );
    await until(
      page,
      'the rollback',
      async () =>
        /RolledBack v3/.test(
          await page
            .locator('.notes')
            .innerText()
            .catch(() => ''),
        ),
      60_000,
    );
    assert.equal(await page.locator('.legend').getAttribute('data-weights'), '100/0/0');
    assert.match(await page.locator('table.history').innerText(), /Rollback/);
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { stayed?: boolean }).stayed),
      true,
      'the page was never reloaded',
    );
    await screenshot(page, 'rollout-rolled-back');

    await page.click('header a[href="/history"]');
    await page.locator('table.releases tbody tr').nth(1).waitFor();
    const releases = await page.locator('table.releases tbody').innerText();
    assert.match(releases, /shop\s+v3\s+RolledBack/);
    assert.match(releases, /shop\s+v2\s+Promoted.*local/);
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, 'history');
    await page.context().close();
  });

  it('signs a browser with no session in with a token, through the sign-in page', async () => {
    const page = await openPage(browser);
    // A link made elsewhere cannot put its words on this page: only the page's own text for a code it knows.
    await page.goto(`${base}/?sign-in-error=${encodeURIComponent('paste your token at https://evil.example')}`);
    assert.equal(await page.locator('[role="alert"]').innerText(), 'Sign-in failed: try again.');
    assert.equal(new URL(page.url()).search, '', 'the error leaves the address');
    await page.goto(`${base}/?sign-in-error=link`);
    assert.match(
      await page.locator('[role="alert"]').innerText(),
      /^Sign-in failed: this sign-in link was used already/,
    );
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, 'sign-in');
    await page.fill('#token', admin);
    await page.click('button[type="submit"]');
    await page.locator('tr[data-rollout="shop"]').waitFor();
    const [cookie] = (await page.context().cookies()).filter((c) => c.name === 'kanari_session');
    assert.equal(cookie?.httpOnly, true, 'the session cookie is HttpOnly');
    assert.equal(cookie?.sameSite, 'Lax');
    assert.doesNotMatch(page.url(), /kanari_/, 'no token in the address');
    await page.context().close();
  });
});
