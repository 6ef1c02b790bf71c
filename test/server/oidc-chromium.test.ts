/**
 * Single sign-on in a real headless Chromium: from the controller's /auth/oidc/start through
 * the provider's own login and consent pages, typed into as a person would, back to `/`
 * with a session cookie the page cannot read and a role that came from the groups claim.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { ensureDebian } from '../../scripts/ensure-debian.mjs';
import { singleSignOnWorld, type SingleSignOnWorld } from '../helpers/oidc.js';

let world: SingleSignOnWorld;
let browser: Browser;

before(async () => {
  ensureDebian([['chromium', 'chromium']]);
  world = await singleSignOnWorld();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
});
after(async () => {
  await browser?.close();
  await world?.close();
});

describe('single sign-on in Chromium', () => {
  it("signs bob in through the provider's pages and lands on / as an operator", async () => {
    const page = await browser.newPage();
    // The provider's page imports a web font: nothing leaves this machine.
    await page.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
    await page.goto(`${world.api}/auth/oidc/start`);
    assert.equal(new URL(page.url()).origin, world.provider.issuer, 'on the provider');
    await page.fill('input[name=login]', 'bob');
    await page.fill('input[name=password]', 'anything');
    await page.click('button[type=submit]');
    await page.click('button[type=submit]'); // consent
    await page.waitForURL(`${world.api}/`, { timeout: 10_000 });
    const session = (await page.evaluate(async () => (await fetch('/auth/session')).json())) as Record<string, unknown>;
    assert.equal(session.actor, 'oidc:bob@example.test');
    assert.equal(session.role, 'operator');
    assert.equal(session.via, 'oidc');
    assert.equal(await page.evaluate('document.cookie'), '', 'the session cookie is HttpOnly');
    const cookies = await page.context().cookies(world.api);
    const cookie = cookies.find((c) => c.name === 'kanari_session');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Lax');
    assert.equal(
      cookies.find((c) => c.name === 'kanari_oidc'),
      undefined,
      'the flow cookie is gone',
    );
  });
});
