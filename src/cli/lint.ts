import { ConfigError, type ConfigIssue } from '../config/errors.js';
import { loadDocuments } from '../config/kinds.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'validate kanari files without applying them';

interface FileResult {
  file: string;
  ok: boolean;
  documents?: { kind: string; name?: string }[];
  issues?: ConfigIssue[];
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('lint', argv, { file: { type: 'string', short: 'f', multiple: true }, json: { type: 'boolean' } }, true);
  const files = [...(values.file ?? []), ...positionals];
  if (files.length === 0) throw new UsageError('lint: name a file with -f FILE');
  if (!values.json) {
    for (const file of files) {
      for (const doc of loadDocuments(file)) console.log(`${file}: ${doc.kind} ok`);
    }
    return EXIT.ok;
  }
  // With --json every file is checked and reported, bad ones included, in one document.
  const results: FileResult[] = files.map((file) => {
    try {
      const documents = loadDocuments(file).map((d) => ({ kind: d.kind, ...nameOf(d.value) }));
      return { file, ok: true, documents };
    } catch (err) {
      if (err instanceof ConfigError) return { file, ok: false, issues: [...err.issues] };
      throw err;
    }
  });
  console.log(JSON.stringify({ ok: results.every((r) => r.ok), files: results }, null, 2));
  return results.every((r) => r.ok) ? EXIT.ok : EXIT.usage;
}

function nameOf(value: unknown): { name?: string } {
  const name = (value as { metadata?: { name?: string } }).metadata?.name;
  return name === undefined ? {} : { name };
}
