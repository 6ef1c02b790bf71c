import type { ConfigIssue } from '../config/errors.js';
import { loadFiles } from '../config/kinds.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'validate kanari files without applying them';

interface FileResult {
  file: string;
  ok: boolean;
  documents?: { kind: string; name?: string }[];
  issues?: ConfigIssue[];
}

/**
 * Checks each file as `kanari apply` and the controller do (loadFiles), except that a
 * Simulation may name AnalysisTemplates from any file given, as `kanari simulate -t` lets it.
 */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'lint',
    argv,
    { file: { type: 'string', short: 'f', multiple: true }, json: { type: 'boolean' } },
    true,
  );
  const files = [...(values.file ?? []), ...positionals];
  if (files.length === 0) throw new UsageError('lint: name a file with -f FILE');
  const loaded = loadFiles(files);
  if (!values.json) {
    for (const result of loaded) {
      if ('error' in result) throw result.error;
      for (const doc of result.documents) console.log(`${result.file}: ${doc.kind} ok`);
    }
    return EXIT.ok;
  }
  // With --json every file is checked and reported, bad ones included, in one document.
  const results: FileResult[] = loaded.map((r) =>
    'error' in r
      ? { file: r.file, ok: false, issues: [...r.error.issues] }
      : { file: r.file, ok: true, documents: r.documents.map((d) => ({ kind: d.kind, ...nameOf(d.value) })) },
  );
  console.log(JSON.stringify({ ok: results.every((r) => r.ok), files: results }, null, 2));
  return results.every((r) => r.ok) ? EXIT.ok : EXIT.usage;
}

function nameOf(value: unknown): { name?: string } {
  const name = (value as { metadata?: { name?: string } }).metadata?.name;
  return name === undefined ? {} : { name };
}
