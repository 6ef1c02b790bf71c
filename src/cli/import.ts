import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { ConfigError, printable } from '../config/errors.js';
import { loadFileText } from '../config/load.js';
import { DEFAULT_OPTIONS, importFiles, type NotCarried } from '../config/import/index.js';
import { formatPath } from '../config/errors.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit.js';

export const summary = 'convert an Argo Rollouts Rollout or a Flagger Canary into kanari files';

const USAGE = `kanari import -f FILE [-f FILE…] [-o OUT] [--deployment FILE] [--service NAME] [--prometheus URL] [--mesh-provider NAME]
  -f FILE             the Rollout or Canary, and the files of its AnalysisTemplates or MetricTemplates
  -o OUT              where to write the kanari documents (default: standard output)
  --deployment FILE   where to write the Deployment made from an Argo Rollout's inline pod template
  --service NAME      the Service users reach, when the source names none
  --prometheus URL    where Flagger's built-in checks read (default ${DEFAULT_OPTIONS.prometheus})
  --mesh-provider P   Flagger's provider when the Canary names none (default ${DEFAULT_OPTIONS.meshProvider})
What could not be carried over is listed on standard error, each with its place and why.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'import',
    argv,
    {
      file: { type: 'string', short: 'f', multiple: true },
      out: { type: 'string', short: 'o' },
      deployment: { type: 'string' },
      service: { type: 'string' },
      prometheus: { type: 'string' },
      'mesh-provider': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const files = [...(values.file ?? []), ...positionals];
  if (files.length === 0) throw new UsageError('import: name the file to convert with -f FILE');
  const result = importFiles(
    files.map((file) => ({ file, text: loadFileText(file) })),
    {
      prometheus: values.prometheus ?? DEFAULT_OPTIONS.prometheus,
      meshProvider: values['mesh-provider'] ?? DEFAULT_OPTIONS.meshProvider,
      ...(values.service ? { service: values.service } : {}),
    },
  );
  const yaml = result.documents.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
  write(values.out, yaml);
  if (result.deployments.length > 0 && values.deployment)
    write(values.deployment, result.deployments.map((d) => stringify(d, { lineWidth: 0 })).join('---\n'));
  console.error(notCarriedReport(result.notCarried));
  return EXIT.ok;
}

function write(path: string | undefined, text: string): void {
  if (path === undefined) {
    process.stdout.write(text);
    return;
  }
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new ConfigError([
      { file: path, line: 1, col: 1, path: '', message: `cannot write: ${(err as Error).message}` },
    ]);
  }
}

/** One line per field not carried: where it is, what it is, and why. */
export function notCarriedReport(items: readonly NotCarried[]): string {
  if (items.length === 0) return 'kanari import: everything was carried over';
  const lines = items.map((i) => `  ${i.at ?? '-'} ${i.document} ${formatPath(i.path)}: ${i.reason}`);
  return printable(`kanari import: not carried over (${items.length}):`) + '\n' + lines.map(printable).join('\n');
}
