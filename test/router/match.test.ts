import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileRules, cookieValue, matchVersion } from '../../src/router/match.js';

/** A header lookup over a plain object, as the router's request head gives one. */
const fields = (headers: Record<string, string>) => (name: string) => headers[name];

describe('match rules', () => {
  const rules = compileRules([
    { header: { name: 'X-Canary', exact: 'always' }, version: 'canary' },
    { cookie: { name: 'beta', prefix: 'yes' }, version: 'canary' },
    { header: { name: 'user-agent', regex: '^(a+)+$' }, version: 'baseline' },
    { header: { name: 'x-tenant', exact: 'acme' }, cookie: { name: 'plan', exact: 'pro' }, version: 'baseline' },
  ]);

  it('picks the first rule whose every condition holds', () => {
    assert.equal(matchVersion(rules, fields({ 'x-canary': 'always' })), 'canary');
    assert.equal(matchVersion(rules, fields({ 'x-canary': 'Always' })), undefined);
    assert.equal(matchVersion(rules, fields({ cookie: 'a=1; beta=yes-please' })), 'canary');
    assert.equal(matchVersion(rules, fields({ 'x-tenant': 'acme' })), undefined);
    assert.equal(matchVersion(rules, fields({ 'x-tenant': 'acme', cookie: 'plan=pro' })), 'baseline');
  });

  it('runs a catastrophic-looking regex in linear time', () => {
    const started = performance.now();
    assert.equal(matchVersion(rules, fields({ 'user-agent': 'a'.repeat(50_000) + '!' })), undefined);
    // Backtracking engines take longer than the age of the universe here; linear takes milliseconds.
    assert.ok(performance.now() - started < 2000);
  });

  it('reads one cookie without being fooled by a longer name', () => {
    assert.equal(cookieValue('xbeta=1; beta=2', 'beta'), '2');
    assert.equal(cookieValue('beta=2;other=3', 'beta'), '2');
    assert.equal(cookieValue('betas=1', 'beta'), undefined);
    assert.equal(cookieValue(undefined, 'beta'), undefined);
  });
});
