import v8 from 'node:v8';

// V8's linear-time engine (the `l` flag) runs any accepted pattern in time linear in the
// input, so a match rule cannot be used for ReDoS. Patterns it cannot run that way are
// rejected when the table is loaded, with the reason.
v8.setFlagsFromString('--enable-experimental-regexp-engine');

/** V8's linear engine copies a counted repeat's body out, and refuses more than this many copies in all. */
const MAX_COPIES = 16;

export function compileLinearRegex(pattern: string): RegExp {
  try {
    // eslint-disable-next-line no-invalid-regexp -- `l` is V8's linear-engine flag, enabled above
    return new RegExp(pattern, 'l');
  } catch (err) {
    const reason = (err as Error).message.replace(/^Invalid regular expression: \/.*\/l?: /s, '');
    const message =
      reason === 'Cannot be executed in linear time'
        ? whyNotLinear(pattern)
        : `is not a valid regular expression: ${reason}`;
    throw new Error(message, { cause: err });
  }
}

/** What in `pattern` V8's linear engine refuses: V8 says only "Cannot be executed in linear time". */
function whyNotLinear(pattern: string): string {
  const found = scan(pattern);
  if (found.backreference)
    return 'uses a backreference (\\1, \\k<name>), which needs backtracking; kanari runs match rules only on a linear-time engine';
  if (found.lookaround)
    return 'uses a lookahead or lookbehind, which needs backtracking; kanari runs match rules only on a linear-time engine';
  if (found.copies > MAX_COPIES) {
    return `repeats a part ${found.copies} times (${found.count}); the linear-time engine that runs match rules copies a counted repeat out and allows at most ${MAX_COPIES} copies (counts inside counts multiply); use * or + instead`;
  }
  return 'cannot run in linear time, which kanari requires of match rules';
}

interface Scan {
  backreference: boolean;
  lookaround: boolean;
  /** The most copies of one part, counts inside counts multiplied (as V8 counts them). */
  copies: number;
  /** The outermost count that reached `copies`, as written. */
  count: string;
}

/** Reads the pattern's groups and counted repeats the way V8's linear engine counts copies. */
function scan(pattern: string): Scan {
  const out: Scan = { backreference: false, lookaround: false, copies: 1, count: '' };
  const hasGroups = /\((?!\?)|\(\?</.test(pattern);
  /** Per open group: the most copies of anything inside it. */
  const groups: number[] = [1];
  let atom = 1;
  const settle = (copies: number, count: string) => {
    groups[groups.length - 1] = Math.max(groups.at(-1)!, copies);
    if (copies > out.copies) Object.assign(out, { copies, count });
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if ((/[1-9]/.test(next) && hasGroups) || (next === 'k' && pattern[i + 2] === '<')) out.backreference = true;
      i++;
      atom = 1;
    } else if (c === '[') {
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
      atom = 1;
    } else if (c === '(') {
      if (/^\(\?<?[=!]/.test(pattern.slice(i, i + 4))) out.lookaround = true;
      groups.push(1);
      continue;
    } else if (c === ')') {
      atom = groups.length > 1 ? groups.pop()! : 1;
    } else if (c === '{' || c === '*' || c === '+' || c === '?') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (c === '{' && m) {
        const [min, max] = [Number(m[1]), m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3])];
        settle(atom * (max === Infinity ? Math.max(min, 1) : max), m[0]);
        i += m[0].length - 1;
      }
      continue;
    } else {
      atom = 1;
    }
    settle(atom, '');
  }
  return out;
}
