/**
 * How deep, how large and how repetitive a YAML text may be, checked before the yaml
 * package builds anything from it.
 *
 * Why first: yaml's composer recurses once per level of nesting. Deep enough, it
 * overflows the stack, catches the RangeError itself (compose-node.js) and carries on at
 * the very bottom of the stack, where the next RegExp it runs may have to be compiled
 * (V8 compiles regexps lazily, and again when they get hot). V8's RegExp compiler has no
 * stack left there and treats that as a fatal out-of-memory ("RegExpCompiler Allocation
 * failed"): the process aborts (exit 134) with no exception anyone could catch. The first
 * such document usually survives, since its regexps were compiled on the way down; a
 * second one in the same process finds them hot and aborts. Size is bounded too, because
 * yaml's parse is slow per token and its duplicate-key check is quadratic: a 1 MB list or
 * map took from 5 to 70 seconds, with the router's event loop blocked meanwhile.
 *
 * The walk goes over yaml's own lexer (so quotes, comments and block scalars are read as
 * yaml reads them), which is a generator with no recursion: it stops at the first limit
 * passed, so its cost is bounded by the limits, not by the text.
 */
import { CST, Lexer } from 'yaml';

export interface TextLimits {
  /** Collections inside collections (a block key or list item, or `[` / `{`, is a level). */
  maxDepth: number;
  /** Scalars, aliases, collections, list items and explicit keys: what the composer builds a node for. */
  maxValues: number;
  /** Lines, comments and punctuation besides: what the lexer spends its time on. */
  maxTokens: number;
  /** `*alias` references; each one costs a walk over the document when it is resolved. */
  maxAliases: number;
  /** Documents (`---`) in one text; each is composed and validated on its own. */
  maxDocuments: number;
}

/** Far above any kanari file (the largest example has ~150 values and nests 9 deep). */
export const LIMITS: TextLimits = {
  maxDepth: 64,
  maxValues: 20_000,
  maxTokens: 200_000,
  maxAliases: 100,
  maxDocuments: 100,
};

/** For data a person hands `kanari judge` (long series of numbers): any size, but no deeper and no more aliases. */
export const DATA_LIMITS: TextLimits = { ...LIMITS, maxValues: Infinity, maxTokens: Infinity };

/** Where a text first goes past a limit, and which. */
export interface Breach {
  offset: number;
  message: string;
}

/** An open block collection: the column of its keys or dashes; a list may share its parent key's column. */
interface Level {
  col: number;
  list: boolean;
}

const VALUE_TOKENS = new Set([
  'single-quoted-scalar',
  'double-quoted-scalar',
  'block-scalar-header',
  'alias',
  'flow-map-start',
  'flow-seq-start',
  'seq-item-ind',
  'explicit-key-ind',
]);
const IGNORED = new Set([
  'space',
  'newline',
  'comment',
  'byte-order-mark',
  'doc-mode',
  'directive-line',
  'anchor',
  'tag',
]);

export function checkLimits(text: string, limits: TextLimits = LIMITS): Breach | undefined {
  let offset = 0;
  let lineStart = 0;
  let flow = 0;
  let levels: Level[] = [];
  let values = 0;
  let tokens = 0;
  let aliases = 0;
  let documents = 0;
  /** The next content token starts a node: first on its line, or after `-`, `?` or `:`. */
  let startsNode = true;
  /** A scalar that started a node, and becomes a key if `:` follows it. */
  let candidateKey: { col: number; offset: number } | undefined;
  let sourceNext = false;
  let previous: string | null = null;

  const open = (col: number, list: boolean): boolean => {
    while (levels.length > 0 && levels.at(-1)!.col > col) levels.pop();
    const top = levels.at(-1);
    if (top?.col === col) {
      if (top.list === list) return true;
      if (list) levels.push({ col, list });
      else {
        levels.pop();
        if (levels.at(-1)?.col !== col) levels.push({ col, list });
      }
    } else {
      levels.push({ col, list });
    }
    return levels.length + flow <= limits.maxDepth;
  };

  for (const token of new Lexer().lex(text)) {
    const at = offset;
    if (token !== CST.DOCUMENT && token !== CST.SCALAR && token !== CST.FLOW_END) offset += token.length;
    const newline = token.lastIndexOf('\n');
    if (newline >= 0) lineStart = at + newline + 1;
    // The text of a plain or block scalar follows its marker; yaml's tokenType misreads it.
    if (sourceNext) {
      sourceNext = false;
      continue;
    }
    const type = token === CST.SCALAR ? 'scalar' : CST.tokenType(token);
    if (type === 'scalar') sourceNext = true;
    if (type === 'newline' && flow === 0) startsNode = true;
    if (type !== 'space' && ++tokens > limits.maxTokens)
      return { offset: at, message: `has more than ${limits.maxTokens} lines, comments and punctuation marks` };
    if (type === null || IGNORED.has(type)) continue;

    // A block scalar's text starts at its first line's margin: it is the header's value, not a node of its own.
    const blockText = type === 'scalar' && previous === 'block-scalar-header';
    previous = type;
    if (blockText) continue;
    const isValue = VALUE_TOKENS.has(type) || type === 'scalar';
    if (isValue && ++values > limits.maxValues)
      return { offset: at, message: `holds more than ${limits.maxValues} keys and values` };
    if (type === 'alias' && ++aliases > limits.maxAliases)
      return { offset: at, message: `uses more than ${limits.maxAliases} aliases` };

    if (type === 'doc-start' || type === 'doc-end') {
      if (type === 'doc-start' && ++documents > limits.maxDocuments)
        return { offset: at, message: `holds more than ${limits.maxDocuments} documents` };
      levels = [];
      flow = 0;
      startsNode = true;
      continue;
    }
    if (type === 'flow-map-start' || type === 'flow-seq-start') {
      flow++;
      if (levels.length + flow > limits.maxDepth) return deep(at, limits);
      continue;
    }
    if (type === 'flow-map-end' || type === 'flow-seq-end' || type === 'flow-error-end') {
      flow = type === 'flow-error-end' ? 0 : Math.max(0, flow - 1);
      continue;
    }
    if (flow > 0) continue;

    const col = at - lineStart;
    if (type === 'map-value-ind') {
      if (candidateKey && !open(candidateKey.col, false)) return deep(candidateKey.offset, limits);
      candidateKey = undefined;
      startsNode = true;
      continue;
    }
    candidateKey = undefined;
    if (!startsNode) continue;
    startsNode = false;
    if (type === 'seq-item-ind' || type === 'explicit-key-ind') {
      if (!open(col, type === 'seq-item-ind')) return deep(at, limits);
      startsNode = true;
    } else {
      while (levels.length > 0 && levels.at(-1)!.col > col) levels.pop();
      candidateKey = { col, offset: at };
    }
  }
  return undefined;
}

function deep(offset: number, limits: TextLimits): Breach {
  return { offset, message: `nests deeper than ${limits.maxDepth} levels` };
}

/** 1-based line and column of `offset` in `text`. */
export function positionOf(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}
