import { loadDocuments } from '../config/kinds.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'validate kanari files without applying them';

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('lint', argv, { file: { type: 'string', short: 'f', multiple: true } }, true);
  const files = [...(values.file ?? []), ...positionals];
  if (files.length === 0) throw new UsageError('lint: name a file with -f FILE');
  for (const file of files) {
    for (const doc of loadDocuments(file)) console.log(`${file}: ${doc.kind} ok`);
  }
  return EXIT.ok;
}
