/**
 * Mutations of a kanari file for the config fuzz test: the slips a person makes (lines
 * lost, doubled or mis-indented) and the values an attacker writes. Each mutation is a
 * pure function of the source and the random source, so a seed reproduces it.
 */
import { billionLaughs } from '../../helpers/hostile.js';

export type Rng = () => number;

export interface Mutation {
  /** The operators applied, by kind, for the summary. */
  kinds: string[];
  bytes: Buffer;
}

const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
const int = (rng: Rng, max: number) => Math.floor(rng() * max);

/** Values written where a value goes, by kind; a function gets the random source. */
const VALUES: Record<string, readonly (string | ((rng: Rng) => string))[]> = {
  'huge number': [
    '1e309',
    '99999999999999999999999',
    '1.7976931348623157e308',
    '0x7fffffffffffffff',
    '2147483648',
    '9007199254740993',
  ],
  'negative number': ['-1', '-0', '-1e-320', '-99999', '-0.5'],
  'NaN or infinity': ['.nan', '.inf', '-.inf', '.NaN', 'NaN', 'Infinity'],
  'hostile duration': [
    '800h',
    '596h31m23.648s',
    '0s',
    '0ms',
    `${'9'.repeat(400)}h`,
    '1.5.5s',
    '-5s',
    '5 s',
    '1e3ms',
    '24.9d',
  ],
  'deep nesting': [(rng) => nest(rng, '[', ']'), (rng) => nest(rng, '{a: ', '}'), (rng) => nest(rng, '- ', '')],
  'anchor and alias': ['&a 1', '*a', '&x [*x]', '&x {k: *x}', '&a [1, 2]'],
  'undefined alias': ['*nowhere', '[*a, *b]', '{k: *missing}'],
  tag: [
    '!!binary aGVsbG8=',
    '!!set {a, b}',
    '!!js/function "function(){}"',
    '!!timestamp 2001-12-14',
    '!!float x',
    '!custom y',
    '!!str 5',
    '!!int "7"',
    '!!map [1]',
    '!!seq {a: 1}',
    '!<tag:yaml.org,2002:int> 1',
    '!!null ""',
    '!!bool yes',
    '!!omap [a: 1]',
  ],
  'control bytes': [
    '"a\\u0000b"',
    'a\u0000b',
    '"\\x1b[31mred"',
    'bell\u0007',
    '"\\u202eevil"',
    '"line\\nbreak"',
    '"\\r\\n"',
  ],
  'long string': [(rng) => 'a'.repeat(1000 + int(rng, 200_000)), (rng) => `"${'b'.repeat(1000 + int(rng, 200_000))}"`],
  'wrong type': ['[]', '{}', 'null', '~', 'true', '""', "'1'", '[1, 2]', '{a: 1}', '[[[]]]', 'yes', '0o17', '"12"'],
  'nested-quantifier regex': [
    '"(a+)+$"',
    '"(.*a){20}"',
    '"((a|b)*)*c"',
    '"(?=a)"',
    '"(a)\\\\1"',
    '"["',
    '"a{2,1}"',
    '"x{1000}"',
    '"((a{4}){4}){4}"',
    '"(?<n>a)\\\\k<n>"',
  ],
  'deep condition': [
    (rng) => `"${'('.repeat(int(rng, 6000))}result${')'.repeat(int(rng, 6000))} > 0"`,
    (rng) => `"${'!'.repeat(int(rng, 3000))}result"`,
    (rng) => `"result${' + 1'.repeat(int(rng, 3000))} > 0"`,
    (rng) => `"result${'.a'.repeat(int(rng, 3000))} > 0"`,
    (rng) => `"min(${'1,'.repeat(int(rng, 20_000))}1) > 0"`,
  ],
  'many values': [(rng) => `[${'1,'.repeat(15_000 + int(rng, 10_000))}1]`],
};

function nest(rng: Rng, open: string, close: string): string {
  const depth = pick(rng, [10, 60, 63, 64, 65, 66, 500, 5000, 30_000]);
  return `${open.repeat(depth)}1${close.repeat(depth)}`;
}

const KEY_VALUE = /^(\s*(?:- )?)("[^"]*"|[^\s:#"'][^:#]*?):([ \t]+)(.*?)(,?)$/;

/** Operators on the whole text or its lines; each returns the new text (or bytes) and its kind. */
const OPERATORS: ((text: string, rng: Rng) => { kind: string; text?: string; bytes?: Buffer })[] = [
  (text, rng) => {
    const lines = text.split('\n');
    lines.splice(int(rng, lines.length), 1);
    return { kind: 'line deleted', text: lines.join('\n') };
  },
  (text, rng) => {
    const lines = text.split('\n');
    const i = int(rng, lines.length);
    lines.splice(i, 0, lines[i]!);
    return { kind: 'line duplicated', text: lines.join('\n') };
  },
  (text, rng) => {
    const lines = text.split('\n');
    const i = int(rng, lines.length);
    const shift = pick(rng, [-4, -2, -1, 1, 2, 3, 8]);
    lines[i] =
      shift > 0 ? ' '.repeat(shift) + lines[i] : lines[i]!.slice(Math.min(-shift, /^ */.exec(lines[i]!)![0].length));
    return { kind: 'indentation changed', text: lines.join('\n') };
  },
  (text, rng) => ({
    kind: 'tabs for spaces',
    text: text.replace(/^( {2})+/gm, (m) => (rng() < 0.3 ? '\t'.repeat(m.length / 2) : m)),
  }),
  (text, rng) => ({ kind: 'truncated', text: text.slice(0, int(rng, text.length)) }),
  (text, rng) => {
    const lines = text.split('\n');
    const [a, b] = [int(rng, lines.length), int(rng, lines.length)];
    [lines[a], lines[b]] = [lines[b]!, lines[a]!];
    return { kind: 'lines swapped', text: lines.join('\n') };
  },
  (text, rng) => {
    const kind = pick(rng, Object.keys(VALUES));
    const lines = text.split('\n');
    const candidates = lines.flatMap((l, i) => (KEY_VALUE.test(l) ? [i] : []));
    if (candidates.length === 0) return { kind, text: `${text}\nextra: ${value(kind, rng)}\n` };
    const i = pick(rng, candidates);
    lines[i] = lines[i]!.replace(
      KEY_VALUE,
      (_m, lead: string, key: string, gap: string, _v: string, comma: string) =>
        `${lead}${key}:${gap}${value(kind, rng)}${comma}`,
    );
    return { kind, text: lines.join('\n') };
  },
  (text, rng) => {
    const lines = text.split('\n');
    const candidates = lines.flatMap((l, i) => (KEY_VALUE.test(l) ? [i] : []));
    if (candidates.length === 0) return { kind: 'long key', text };
    const i = pick(rng, candidates);
    lines[i] = lines[i]!.replace(
      KEY_VALUE,
      (_m, lead: string, _k: string, gap: string, v: string, comma: string) =>
        `${lead}${'k'.repeat(1 + int(rng, 100_000))}:${gap}${v}${comma}`,
    );
    return { kind: 'long key', text: lines.join('\n') };
  },
  (text) => ({ kind: 'alias bomb', text: `${billionLaughs()}${text}` }),
  (text, rng) => ({
    kind: 'many documents',
    text: rng() < 0.5 ? `${text}\n---\n${text}` : `${text}\n${'---\n'.repeat(1 + int(rng, 5000))}`,
  }),
  (text, rng) => ({
    kind: 'BOM or CRLF',
    text: pick(rng, [`\ufeff${text}`, text.replace(/\n/g, '\r\n'), text.replace(/\n/g, '\r')]),
  }),
  (text, rng) => {
    const bytes = Buffer.from(text);
    const at = int(rng, bytes.length + 1);
    const junk = Buffer.from(
      pick(rng, [
        [0xff, 0xfe],
        [0xc3],
        [0xe0, 0xa4],
        [0xed, 0xa0, 0x80],
        [0x00],
        [0x00, 0x00, 0x00],
        [0x1b, 0x5b, 0x32, 0x4a],
      ]),
    );
    return {
      kind: junk.includes(0) ? 'NUL bytes' : 'invalid UTF-8',
      bytes: Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at)]),
    };
  },
];

function value(kind: string, rng: Rng): string {
  const v = pick(rng, VALUES[kind]!);
  return typeof v === 'string' ? v : v(rng);
}

/** One to three operators applied to `source`. */
export function mutate(source: string, rng: Rng): Mutation {
  const kinds: string[] = [];
  let text = source;
  let bytes: Buffer | undefined;
  const n = 1 + int(rng, 3);
  for (let i = 0; i < n; i++) {
    const out = pick(rng, OPERATORS)(bytes ? bytes.toString('utf8') : text, rng);
    kinds.push(out.kind);
    if (out.bytes) bytes = out.bytes;
    else {
      text = out.text!;
      bytes = undefined;
    }
  }
  return { kinds, bytes: bytes ?? Buffer.from(text) };
}
