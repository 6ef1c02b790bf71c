import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadDocuments, KINDS } from '../src/config/kinds.js';
import { parseDocuments } from '../src/config/load.js';

const examples = (readdirSync('examples', { recursive: true }) as string[]).filter((f) => /\.ya?ml$/.test(f));
const markdown = ['README.md', ...readdirSync('docs').map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));

describe('examples', () => {
  it('has examples to check', () => assert.ok(examples.length > 0));
  for (const file of examples) {
    it(`examples/${file} is valid`, () => {
      const docs = loadDocuments(`examples/${file}`);
      assert.ok(docs.length > 0);
    });
  }
});

describe('docs', () => {
  for (const file of markdown) {
    const text = readFileSync(file, 'utf8');
    const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.includes('apiVersion: kanari.dev/'));
    for (const [i, block] of blocks.entries()) {
      it(`${file}: kanari YAML block ${i + 1} is valid`, () => {
        for (const doc of parseDocuments(block, `${file} block ${i + 1}`)) {
          const kind = (doc.value as { kind: keyof typeof KINDS }).kind;
          assert.ok(kind in KINDS, `unknown kind ${kind}`);
          doc.validate(KINDS[kind]);
        }
      });
    }
    it(`${file}: relative links point at files that exist`, () => {
      for (const [, target] of text.matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)) {
        const base = file.includes('/') ? file.slice(0, file.lastIndexOf('/') + 1) : '';
        assert.ok(existsSync(base + target!), `${file} links to ${target}, which does not exist`);
      }
    });
  }

  it('the README opens with exactly the two commands', () => {
    const lines = readFileSync('README.md', 'utf8').split('\n');
    assert.equal(lines[0], '    npm install && npx kanari demo     # a live canary rollout, end to end');
    assert.equal(lines[1], '    npm install && npm test            # every test');
  });
});
