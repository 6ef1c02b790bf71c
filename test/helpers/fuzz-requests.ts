/**
 * Mutated requests for the data-plane fuzzer. A case is a pure function of (seed, index):
 * a well-formed request carrying its marker, then one to three mutations of its fields,
 * framing, target, version or bytes, sometimes a pipelined second request, and the points
 * at which the client splits its writes.
 */
import { Rng } from './fuzz-random.js';
import { marker } from './fuzz-upstream.js';

/** The router's limits as the oracle reads them (maxHeaderLines is the default being added). */
export const MAX_HEADER_BYTES = 16 * 1024;
export const MAX_HEADER_LINES = 100;

interface Line {
  name: string;
  value: string;
  /** What sits between name and value: ': ' unless mutated. */
  sep: string;
}

interface Draft {
  method: string;
  target: string;
  version: string;
  fields: Line[];
  /** The body as it goes on the wire, framing included. */
  body: string;
  /** The payload before framing, for mutations that re-frame it. */
  data: string;
  mark: string;
}

export interface RequestCase {
  index: number;
  wire: string;
  /** Where the client splits its writes. */
  cuts: number[];
  mutations: string[];
}

const TE_VALUES = [
  'chunked',
  'Chunked',
  'CHUNKED',
  ' chunked',
  'xchunked',
  'identity',
  'gzip',
  'gzip, chunked',
  'chunked, chunked',
  'chunked;q=1',
  'chunked, identity',
  '',
];
const CL_VALUES = ['+5', '-1', '5 5', '05', '5,5', '0x5', '99999999999999999999', '', '5.0'];
const HOSTS = [
  '',
  'A.Example',
  '[::1]',
  '[::1]:8080',
  'a:',
  'a b',
  'a/b',
  'u@a',
  'a:b',
  '[::1',
  'a:80:80',
  '"a"',
  'a\tb',
  '%zz',
  'a%20b',
  '[v1.x]:9',
];
const CONNECTION_LISTS = [
  'x-data',
  'content-length',
  'host',
  'x-user-id',
  'close',
  'transfer-encoding',
  'keep-alive, x-data',
  'x-forwarded-for',
  'UPGRADE',
];
const HOP_BY_HOP = [
  ['Keep-Alive', 'timeout=5'],
  ['Proxy-Connection', 'keep-alive'],
  ['TE', 'trailers'],
  ['Trailer', 'X-T'],
  ['Proxy-Authorization', 'Basic eDp5'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Forwarded-Host', 'evil.example'],
  ['Expect', '100-continue'],
];
const CTLS = [0x00, 0x01, 0x08, 0x0b, 0x0c, 0x1b, 0x7f, 0x0d, 0x0a, 0x09];

const field = (name: string, value: string): Line => ({ name, value, sep: ': ' });

function chunkedBody(rng: Rng, data: string, quirk?: string): string {
  let out = '';
  let at = 0;
  let n = 0;
  while (at < data.length) {
    const size = Math.min(data.length - at, rng.int(1, 64));
    let sizeText = size.toString(16);
    if (quirk === 'upper') sizeText = sizeText.toUpperCase();
    if (quirk === 'zeros') sizeText = `000${sizeText}`;
    if (quirk === 'ext') sizeText += rng.pick([';a=b', ' ; a="q s"', ';a', ';', '; =b', ';a=b c', '\t;x=1']);
    if (quirk === 'bad-size' && n === 1) sizeText = rng.pick(['g', '-1', ' 1', '1 1', '0x1']);
    if (quirk === 'huge' && n === 0) sizeText = rng.pick(['fffffffffffffffff', '7fffffffffffffff', '100000000']);
    out += `${sizeText}\r\n${data.slice(at, at + size)}${quirk === 'no-crlf' && n === 0 ? '' : '\r\n'}`;
    at += size;
    n++;
  }
  if (quirk === 'no-last') return out;
  const trailers =
    quirk === 'trailers'
      ? rng.pick(['X-T: 1\r\n', 'X T: 1\r\n', 'X-T: 1\r\n folded\r\n', 'Content-Length: 5\r\n', 'X-T: a\x00b\r\n'])
      : '';
  return `${out}${quirk === 'zeros' ? '000' : '0'}\r\n${trailers}\r\n`;
}

function baseDraft(rng: Rng, mark: string): Draft {
  const method = rng.pick(['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'PATCH', 'HEAD', 'DELETE', 'OPTIONS']);
  const target = `/${mark}/p${rng.int(0, 99)}${rng.chance(0.3) ? `?q=${rng.int(0, 9)}&r=%41` : ''}`;
  const fields = [
    field('Host', rng.pick(['app.example', 'app.example:8080', '127.0.0.1', '[::1]:80'])),
    field('X-Fuzz-Case', mark),
  ];
  if (rng.chance(0.5)) fields.push(field('User-Agent', 'kanari-fuzz/1'));
  if (rng.chance(0.5)) fields.push(field('x-user-id', `u${rng.int(0, 999)}`));
  if (rng.chance(0.3)) fields.push(field('Cookie', `a=1; kanari-svc=k${rng.int(0, 99)}`));
  if (rng.chance(0.2)) fields.push(field('X-Forwarded-For', '203.0.113.7'));
  if (rng.chance(0.3)) fields.push(field('X-Data', rng.text(rng.int(1, 40)).trim() || 'x'));
  if (rng.chance(0.2)) fields.push(field('Connection', 'keep-alive'));
  const data =
    ['POST', 'PUT', 'PATCH'].includes(method) || rng.chance(0.05)
      ? rng.chance(0.7)
        ? rng.text(rng.int(0, 300))
        : rng.bytes(rng.int(1, 300))
      : '';
  const draft: Draft = { method, target, version: 'HTTP/1.1', fields, body: '', data, mark };
  if (data === '' && !rng.chance(0.1)) return draft;
  if (rng.chance(0.35)) {
    fields.push(field('Transfer-Encoding', 'chunked'));
    draft.body = chunkedBody(rng, data);
  } else {
    fields.push(field('Content-Length', String(data.length)));
    draft.body = data;
  }
  return draft;
}

const at = (rng: Rng, d: Draft) => rng.int(0, d.fields.length);
const has = (d: Draft, name: string) => d.fields.find((f) => f.name.toLowerCase() === name.toLowerCase());
const drop = (d: Draft, name: string) =>
  (d.fields = d.fields.filter((f) => f.name.toLowerCase() !== name.toLowerCase()));
const insert = (rng: Rng, d: Draft, ...lines: Line[]) => d.fields.splice(at(rng, d), 0, ...lines);

/** Mutations of the draft; each returns its name for the report. */
const DRAFT_MUTATIONS: ((rng: Rng, d: Draft) => string)[] = [
  function duplicate(rng, d) {
    const name = rng.pick([
      'Host',
      'Content-Length',
      'Transfer-Encoding',
      'Connection',
      'x-user-id',
      'Cookie',
      'X-Forwarded-For',
    ]);
    const same = has(d, name);
    const value =
      same && rng.chance(0.5)
        ? same.value
        : name === 'Host'
          ? 'other.example'
          : name === 'Content-Length'
            ? String(d.data.length + 1)
            : name === 'Transfer-Encoding'
              ? 'chunked'
              : `v${rng.int(0, 9)}`;
    insert(rng, d, field(rng.chance(0.3) ? name.toUpperCase() : name, value));
    return `duplicate ${name}`;
  },
  function reorder(rng, d) {
    d.fields = rng.shuffle(d.fields);
    return 'reorder';
  },
  function casing(rng, d) {
    for (const f of d.fields)
      if (rng.chance(0.5))
        f.name = [...f.name].map((c) => (rng.chance(0.5) ? c.toUpperCase() : c.toLowerCase())).join('');
    return 'casing';
  },
  function whitespace(rng, d) {
    const f = rng.pick(d.fields);
    const kind = rng.pick(['value-lead', 'value-trail', 'no-space', 'before-colon', 'in-name', 'tab-sep']);
    if (kind === 'value-lead') f.sep = `:${rng.pick([' \t', '\t', '   '])}`;
    if (kind === 'value-trail') f.value += rng.pick([' ', '\t', ' \t ']);
    if (kind === 'no-space') f.sep = ':';
    if (kind === 'before-colon') f.sep = `${rng.pick([' ', '\t'])}: `;
    if (kind === 'in-name') f.name = `${f.name.slice(0, 1)} ${f.name.slice(1)}`;
    if (kind === 'tab-sep') f.sep = ':\t';
    return `whitespace ${kind} on ${f.name}`;
  },
  function target(rng, d) {
    const path = d.target;
    const form = rng.pick([
      'http',
      'https',
      'HTTP',
      'http-port',
      'http-empty-path',
      'ftp',
      'userinfo',
      'bad-authority',
      'empty-host',
      'connect',
      'asterisk',
      'no-slash',
      'mailto',
    ]);
    const forms: Record<string, () => void> = {
      http: () => (d.target = `http://origin.example${path}`),
      https: () => (d.target = `https://origin.example${path}`),
      HTTP: () => (d.target = `HTTP://Origin.Example${path}`),
      'http-port': () => (d.target = `http://origin.example:8443${path}`),
      'http-empty-path': () => (d.target = `http://origin.example?${d.mark}`),
      ftp: () => (d.target = `ftp://origin.example${path}`),
      userinfo: () => (d.target = `http://user:pw@origin.example${path}`),
      'bad-authority': () => (d.target = `http://${rng.pick(['a%zz', '[::1', 'a:b', 'a"b'])}${path}`),
      'empty-host': () => (d.target = `http://${path}`),
      connect: () => ((d.method = 'CONNECT'), (d.target = 'origin.example:443')),
      asterisk: () => ((d.method = rng.pick(['OPTIONS', 'GET'])), (d.target = '*')),
      'no-slash': () => (d.target = path.slice(1)),
      mailto: () => (d.target = `mailto:${d.mark}@a.example`),
    };
    forms[form]!();
    return `target ${form}`;
  },
  function version(rng, d) {
    d.version = rng.pick([
      'HTTP/1.0',
      'HTTP/1.0',
      'HTTP/1.2',
      'HTTP/2.0',
      'HTTP/0.9',
      '',
      'http/1.1',
      'HTTP/1.1 ',
      'HTTP/11',
      'HTTP/1.1\t',
      'HTTP/1.01',
    ]);
    if (d.version === 'HTTP/1.0' && rng.chance(0.5)) drop(d, 'Host');
    return `version ${JSON.stringify(d.version)}`;
  },
  function method(rng, d) {
    d.method = rng.pick(['get', 'FUZZ', 'G@T', '', 'GET\x00', 'PROPFIND', 'M-SEARCH', 'TRACE']);
    return `method ${JSON.stringify(d.method)}`;
  },
  function transferEncoding(rng, d) {
    const value = rng.pick(TE_VALUES);
    const keepLength = rng.chance(0.2);
    if (!keepLength) drop(d, 'Content-Length');
    drop(d, 'Transfer-Encoding');
    insert(rng, d, field('Transfer-Encoding', value));
    d.body = rng.chance(0.7) ? chunkedBody(rng, d.data) : d.data;
    if (rng.chance(0.15)) d.version = 'HTTP/1.0';
    return `Transfer-Encoding ${JSON.stringify(value)}${keepLength ? ' with Content-Length' : ''}`;
  },
  function contentLength(rng, d) {
    const value = rng.pick(CL_VALUES);
    drop(d, 'Transfer-Encoding');
    drop(d, 'Content-Length');
    insert(rng, d, field('Content-Length', value));
    d.body = d.data.padEnd(5, 'z');
    return `Content-Length ${JSON.stringify(value)}`;
  },
  function host(rng, d) {
    const value = rng.pick(HOSTS);
    drop(d, 'Host');
    if (!rng.chance(0.15)) insert(rng, d, field('Host', value));
    return has(d, 'Host') ? `Host ${JSON.stringify(value)}` : 'no Host';
  },
  function connectionList(rng, d) {
    const value = rng.pick(CONNECTION_LISTS);
    insert(rng, d, field('Connection', value));
    if (value === 'x-data' && !has(d, 'X-Data')) insert(rng, d, field('X-Data', 'private'));
    return `Connection: ${value}`;
  },
  function upgrade(rng, d) {
    insert(rng, d, field('Connection', 'Upgrade'), field('Upgrade', rng.pick(['websocket', 'h2c', 'foo/1'])));
    return `Upgrade${d.body ? ' with a body' : ''}`;
  },
  function hopByHop(rng, d) {
    const [name, value] = rng.pick(HOP_BY_HOP) as [string, string];
    insert(rng, d, field(name, value));
    return `hop-by-hop ${name}`;
  },
  function headerCount(rng, d) {
    const total = rng.pick([99, 100, 101, 102, 120, 999, 1000, 1001, 1002, 1100]);
    const filler = Array.from({ length: Math.max(0, total - d.fields.length) }, (_, i) =>
      field(`X-F${i}`, rng.chance(0.5) ? '' : String(i)),
    );
    // Filler first, so Content-Length and Host sit past the 1,000th line (finding 1).
    d.fields = rng.chance(0.6) ? [...filler, ...d.fields] : [...d.fields, ...filler];
    return `${total} header lines`;
  },
  function headSize(rng, d) {
    const want = MAX_HEADER_BYTES + rng.pick([-300, -40, -1, 0, 1, 40, 100, 300, 3000]);
    const size = serialize(d).indexOf('\r\n\r\n') + 4;
    insert(rng, d, field('X-Pad', 'p'.repeat(Math.max(1, want - size - 9))));
    return `head of ${want} bytes`;
  },
  function bodySize(rng, d) {
    const longer = rng.chance(0.5);
    d.body = longer
      ? `${d.body}${rng.pick(['extra', '\r\n', 'GET / HTTP/1.1\r\n\r\n'])}`
      : d.body.slice(0, Math.max(0, d.body.length - rng.int(1, 10)));
    return `body ${longer ? 'longer' : 'shorter'} than framed`;
  },
  function chunks(rng, d) {
    const quirk = rng.pick(['upper', 'zeros', 'ext', 'bad-size', 'huge', 'no-crlf', 'no-last', 'trailers']);
    drop(d, 'Content-Length');
    if (!has(d, 'Transfer-Encoding')) insert(rng, d, field('Transfer-Encoding', 'chunked'));
    d.data ||= rng.text(rng.int(70, 200));
    d.body = chunkedBody(rng, d.data, quirk);
    return `chunks ${quirk}`;
  },
];

/** Byte-level mutations of the head's lines (the request-line is line 0). */
function mutateLines(rng: Rng, lines: string[]): string {
  const i = rng.int(0, lines.length - 1);
  const kind = rng.pick(['eol', 'eol-all', 'ctl', 'obs-text', 'fold', 'leading', 'extra-sp']);
  const put = (s: string, c: string) => {
    const p = rng.int(0, s.length);
    return s.slice(0, p) + c + s.slice(p);
  };
  if (kind === 'eol') lines[i] += rng.pick(['\n', '\r']);
  if (kind === 'eol-all') for (let j = 0; j < lines.length; j++) lines[j] += '\n';
  if (kind === 'ctl') lines[i] = put(lines[i]!, String.fromCharCode(rng.pick(CTLS)));
  if (kind === 'obs-text') lines[i] = put(lines[i]!, String.fromCharCode(rng.int(0x80, 0xff)));
  if (kind === 'fold') lines.splice(Math.max(1, i), 0, rng.pick([' folded', '\tfolded', ' ']));
  if (kind === 'leading') lines[0] = rng.pick(['\r\n', '\n', '\r\n\r\n', ' ']) + lines[0];
  if (kind === 'extra-sp') lines[0] = lines[0]!.replace(' ', rng.pick(['  ', ' \t', '\t']));
  return `bytes ${kind} on line ${i}`;
}

/** A line ending already chosen by mutateLines is kept; the rest get CRLF. */
function join(lines: string[]): string {
  return lines.map((l) => (/[\r\n]$/.test(l) && !l.endsWith('\r\n') ? l : `${l}\r\n`)).join('') + '\r\n';
}

function headLines(d: Draft): string[] {
  return [
    `${d.method} ${d.target}${d.version ? ` ${d.version}` : ''}`,
    ...d.fields.map((f) => `${f.name}${f.sep}${f.value}`),
  ];
}

function serialize(d: Draft): string {
  return join(headLines(d)) + d.body;
}

/** One request with up to `max` mutations; the names of those applied go into `names`. */
function mutated(rng: Rng, mark: string, max: number, names: string[]): string {
  const d = baseDraft(rng, mark);
  const n = max === 0 ? 0 : rng.int(1, max);
  for (let i = 0; i < n; i++) {
    if (rng.chance(0.2)) continue;
    names.push(rng.pick(DRAFT_MUTATIONS)(rng, d));
  }
  if (max > 0 && rng.chance(0.2)) {
    const lines = headLines(d);
    names.push(mutateLines(rng, lines));
    return join(lines) + d.body;
  }
  return serialize(d);
}

/** Case `index`: every `cleanEvery`th case is an unmutated request, to see the router still in step. */
export function requestCase(seed: number, index: number, cleanEvery = 50): RequestCase {
  const rng = Rng.forCase(seed, index);
  const mutations: string[] = [];
  const clean = index % cleanEvery === cleanEvery - 1;
  let wire = mutated(rng, marker(index, 0), clean ? 0 : 3, mutations);
  if (!clean && rng.chance(0.15)) {
    mutations.push('pipelined');
    wire += mutated(rng, marker(index, 1), rng.chance(0.5) ? 0 : 1, mutations);
  }
  const cuts = rng.chance(0.5) ? [] : rng.cuts(wire.length, rng.int(2, 5));
  return { index, wire, cuts, mutations };
}
