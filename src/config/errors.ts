/** One thing wrong with a config document, located in its file. */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  /** Dotted path into the document, e.g. `spec.table.weights.canary` or `steps[2].setWeight`. */
  path: string;
  message: string;
}

/** One line per issue, whatever the file held: control and invisible characters are shown escaped. */
export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.col}`;
  return printable(issue.path ? `${where} ${issue.path}: ${issue.message}` : `${where} ${issue.message}`);
}

/** Line breaks, control characters, BOMs and direction overrides, which would hide or forge text in a terminal. */
const UNPRINTABLE =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Thrown for bad input; the CLI prints each issue on its own line and exits 2. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** `spec.steps[2].setWeight`; a key that is not a plain name is quoted (`headers["x y"]`), a long one cut short. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    const key = String(part);
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[\w$-]{1,60}$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(key.length > 60 ? `${key.slice(0, 57)}...` : key)}]`;
  }
  return out;
}
