#!/usr/bin/env node
// The built CLI lives in dist/ (made by `npm install` through the `prepare` script).
import { existsSync } from 'node:fs';
const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('kanari: dist/ is missing; run `npm install` (or `npm run build`) in the kanari checkout first.');
  process.exit(70);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
