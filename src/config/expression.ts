/**
 * The condition language of threshold metrics (`successCondition: result >= 0.99`): a
 * small Pratt parser and tree evaluator, no `eval`. Numbers, strings, true/false,
 * identifiers, `a.b` and `a[0]`, + − * / %, comparisons, `&&`/`and`, `||`/`or`, `!`/`not`,
 * and the functions abs, min, max, len, isNaN, default. A syntax error names its column.
 */

export type Value = number | string | boolean | null | undefined | Value[] | { [key: string]: Value };

type Node =
  | { type: 'literal'; value: Value }
  | { type: 'name'; name: string; at: number }
  | { type: 'member'; object: Node; key: Node; at: number }
  | { type: 'call'; name: string; args: Node[]; at: number }
  | { type: 'unary'; op: string; operand: Node }
  | { type: 'binary'; op: string; left: Node; right: Node };

export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(`${message} at column ${column}`);
  }
}

interface Token {
  kind: 'number' | 'string' | 'name' | 'op' | 'end';
  text: string;
  at: number;
}

const OPERATORS = [
  '&&',
  '||',
  '==',
  '!=',
  '<=',
  '>=',
  '<',
  '>',
  '+',
  '-',
  '*',
  '/',
  '%',
  '!',
  '(',
  ')',
  '[',
  ']',
  '.',
  ',',
];
const WORD_OPERATORS: Record<string, string> = { and: '&&', or: '||', not: '!' };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i + 1;
    const number = /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?/i.exec(source.slice(i));
    if (number) {
      tokens.push({ kind: 'number', text: number[0], at });
      i += number[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = source.indexOf(c, i + 1);
      if (end < 0) throw new ExpressionError('unterminated string', at);
      tokens.push({ kind: 'string', text: source.slice(i + 1, end), at });
      i = end + 1;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i));
    if (word) {
      const op = Object.hasOwn(WORD_OPERATORS, word[0]) ? WORD_OPERATORS[word[0]] : undefined;
      tokens.push(op ? { kind: 'op', text: op, at } : { kind: 'name', text: word[0], at });
      i += word[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i));
    if (!op) throw new ExpressionError(`unexpected character ${JSON.stringify(c)}`, at);
    tokens.push({ kind: 'op', text: op, at });
    i += op.length;
  }
  tokens.push({ kind: 'end', text: '', at: source.length + 1 });
  return tokens;
}

const BINDING: Record<string, number> = {
  '||': 1,
  '&&': 2,
  '==': 3,
  '!=': 3,
  '<': 4,
  '<=': 4,
  '>': 4,
  '>=': 4,
  '+': 5,
  '-': 5,
  '*': 6,
  '/': 6,
  '%': 6,
};
const FUNCTIONS = new Set(['abs', 'min', 'max', 'len', 'isNaN', 'default']);
const CONSTANTS: Record<string, Value> = { true: true, false: false, null: null, NaN: NaN, Infinity: Infinity };

export interface Expression {
  source: string;
  /** Identifiers the expression reads at its top level. */
  names: string[];
  evaluate(scope: Record<string, Value>): Value;
}

/**
 * Both far past what a condition needs and far short of the stack (5,000 parentheses
 * overflowed it): parentheses, `!`/`-` and operators of rising precedence each take a
 * level of the parser's recursion; operations inside operations (`a + b + …` too) a
 * level of evaluate's.
 */
const MAX_NESTING = 32;
const MAX_HEIGHT = 256;

export function compile(source: string): Expression {
  const tokens = tokenize(source);
  let pos = 0;
  let depth = 0;
  const peek = () => tokens[pos]!;
  const take = () => tokens[pos++]!;
  const expect = (text: string) => {
    const t = take();
    if (t.text !== text || t.kind !== 'op')
      throw new ExpressionError(
        `expected "${text}"${t.kind === 'end' ? ' before the end' : ` but found "${t.text}"`}`,
        t.at,
      );
  };
  const names = new Set<string>();
  const heights = new WeakMap<Node, number>();
  const made = (node: Node, at: number, ...children: Node[]): Node => {
    const height = 1 + children.reduce((h, c) => Math.max(h, heights.get(c) ?? 1), 0);
    if (height > MAX_HEIGHT) throw new ExpressionError(`chains more than ${MAX_HEIGHT} operations`, at);
    heights.set(node, height);
    return node;
  };

  const parse = (minBinding: number): Node => {
    if (++depth > MAX_NESTING) throw new ExpressionError(`nests deeper than ${MAX_NESTING} levels`, peek().at);
    let left = prefix();
    while (true) {
      const t = peek();
      const binding = t.kind === 'op' ? BINDING[t.text] : undefined;
      if (binding === undefined || binding <= minBinding) {
        depth--;
        return left;
      }
      take();
      const right = parse(binding);
      left = made({ type: 'binary', op: t.text, left, right }, t.at, left, right);
    }
  };
  const prefix = (): Node => {
    const t = take();
    let node: Node;
    if (t.kind === 'number') node = { type: 'literal', value: Number(t.text) };
    else if (t.kind === 'string') node = { type: 'literal', value: t.text };
    else if (t.kind === 'name') {
      if (peek().text === '(' && peek().kind === 'op') {
        if (!FUNCTIONS.has(t.text))
          throw new ExpressionError(`unknown function "${t.text}" (known: ${[...FUNCTIONS].join(', ')})`, t.at);
        take();
        const args: Node[] = [];
        if (peek().text !== ')') {
          do args.push(parse(0));
          while (peek().text === ',' && take());
        }
        expect(')');
        node = made({ type: 'call', name: t.text, args, at: t.at }, t.at, ...args);
      } else if (Object.hasOwn(CONSTANTS, t.text)) node = { type: 'literal', value: CONSTANTS[t.text] };
      else {
        names.add(t.text);
        node = { type: 'name', name: t.text, at: t.at };
      }
    } else if (t.kind === 'op' && (t.text === '!' || t.text === '-')) {
      const operand = parse(6);
      node = made({ type: 'unary', op: t.text, operand }, t.at, operand);
    } else if (t.kind === 'op' && t.text === '(') {
      node = parse(0);
      expect(')');
    } else throw new ExpressionError(t.kind === 'end' ? 'expression ends too early' : `unexpected "${t.text}"`, t.at);
    // Postfix: member access and indexing.
    while (peek().kind === 'op' && (peek().text === '.' || peek().text === '[')) {
      const op = take();
      if (op.text === '.') {
        const key = take();
        if (key.kind !== 'name') throw new ExpressionError('expected a field name after "."', key.at);
        node = made(
          { type: 'member', object: node, key: { type: 'literal', value: key.text }, at: key.at },
          key.at,
          node,
        );
      } else {
        const key = parse(0);
        expect(']');
        node = made({ type: 'member', object: node, key, at: op.at }, op.at, node, key);
      }
    }
    return node;
  };

  const tree = parse(0);
  const end = peek();
  if (end.kind !== 'end') throw new ExpressionError(`unexpected "${end.text}"`, end.at);
  return { source, names: [...names], evaluate: (scope) => evaluate(tree, scope) };
}

function evaluate(node: Node, scope: Record<string, Value>): Value {
  switch (node.type) {
    case 'literal':
      return node.value;
    case 'name':
      if (!Object.hasOwn(scope, node.name))
        throw new ExpressionError(`unknown name "${node.name}" (known: ${Object.keys(scope).join(', ')})`, node.at);
      return scope[node.name];
    case 'member': {
      const object = evaluate(node.object, scope);
      const key = evaluate(node.key, scope);
      if (Array.isArray(object) && typeof key === 'number') return object[key];
      if (
        object !== null &&
        typeof object === 'object' &&
        !Array.isArray(object) &&
        typeof key === 'string' &&
        Object.hasOwn(object, key)
      )
        return object[key];
      return undefined;
    }
    case 'call': {
      const args = node.args.map((a) => evaluate(a, scope));
      const nums = () => args.map((a) => toNumber(a));
      switch (node.name) {
        case 'abs':
          return Math.abs(toNumber(args[0]));
        // A fold, not Math.min(...xs): spreading a long result list overflows the stack.
        case 'min':
          return (Array.isArray(args[0]) ? args[0].map(toNumber) : nums()).reduce((a, b) => Math.min(a, b), Infinity);
        case 'max':
          return (Array.isArray(args[0]) ? args[0].map(toNumber) : nums()).reduce((a, b) => Math.max(a, b), -Infinity);
        case 'len':
          return Array.isArray(args[0]) || typeof args[0] === 'string' ? args[0].length : 0;
        case 'isNaN':
          return Number.isNaN(toNumber(args[0]));
        default:
          return args[0] === undefined || args[0] === null || (typeof args[0] === 'number' && Number.isNaN(args[0]))
            ? args[1]
            : args[0];
      }
    }
    case 'unary':
      return node.op === '!' ? !truthy(evaluate(node.operand, scope)) : -toNumber(evaluate(node.operand, scope));
    case 'binary': {
      if (node.op === '&&') return truthy(evaluate(node.left, scope)) && truthy(evaluate(node.right, scope));
      if (node.op === '||') return truthy(evaluate(node.left, scope)) || truthy(evaluate(node.right, scope));
      const l = evaluate(node.left, scope);
      const r = evaluate(node.right, scope);
      switch (node.op) {
        case '==':
          return l === r;
        case '!=':
          return l !== r;
        case '<':
          return toNumber(l) < toNumber(r);
        case '<=':
          return toNumber(l) <= toNumber(r);
        case '>':
          return toNumber(l) > toNumber(r);
        case '>=':
          return toNumber(l) >= toNumber(r);
        case '+':
          return typeof l === 'string' || typeof r === 'string'
            ? `${String(l)}${String(r)}`
            : toNumber(l) + toNumber(r);
        case '-':
          return toNumber(l) - toNumber(r);
        case '*':
          return toNumber(l) * toNumber(r);
        case '/':
          return toNumber(l) / toNumber(r);
        default:
          return toNumber(l) % toNumber(r);
      }
    }
  }
}

/** Missing values become NaN, so every comparison with them is false — never a silent zero. */
function toNumber(v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return NaN;
}

function truthy(v: Value): boolean {
  return typeof v === 'number' ? v !== 0 && !Number.isNaN(v) : Boolean(v);
}
