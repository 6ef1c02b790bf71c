/**
 * A streaming HTTP/1.1 response parser for upstream answers, as strict as kanari is with
 * requests: a response with both Content-Length and Transfer-Encoding, a duplicated or
 * malformed Content-Length, a Transfer-Encoding other than chunked, obs-folded or malformed
 * header lines, control characters, a head or trailers over 64 KiB however many reads they
 * take, and a 101 (kanari forwards no upgrade on these connections) are protocol errors,
 * never guessed at.
 */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export interface ResponseHead {
  status: number;
  reason: string;
  /** Header names and values in order, as received (names keep their case). */
  raw: string[];
  /** Whether the connection may carry another request after this response. */
  keepAlive: boolean;
}

export interface ResponseSink {
  head(head: ResponseHead): void;
  /** Body bytes, with chunked framing removed (the sink pauses the socket itself if it must). */
  data(chunk: Buffer): void;
  end(): void;
}

const MAX_HEAD_BYTES = 64 * 1024;
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
/** Control characters other than HTAB (RFC 9110 §5.5); obs-text (0x80–0xFF) is allowed. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CTL = /[\x00-\x08\x0a-\x1f\x7f]/;

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

/** One header or trailer line as [name, value]: a token, a colon, and a value without control characters. */
function fieldLine(line: string): [string, string] {
  const colon = line.indexOf(':');
  const name = colon > 0 ? line.slice(0, colon) : '';
  if (!TOKEN.test(name))
    throw new ProtocolError(
      line.startsWith(' ') || line.startsWith('\t')
        ? 'obs-folded header line'
        : `bad header line ${JSON.stringify(line.slice(0, 60))}`,
    );
  // Checked before trimming, so a bare LF or CR at either end is caught too.
  const value = line.slice(colon + 1);
  if (CTL.test(value)) throw new ProtocolError(`bad header value for ${name}`);
  return [name, value.replace(/^[ \t]+|[ \t]+$/g, '')];
}

export class ResponseParser {
  private state = State.Head;
  private pending: Buffer | undefined;
  private remaining = 0;
  /** Bytes of trailer lines read so far, bounded like the head. */
  private trailerBytes = 0;
  /** Set for a response to HEAD: a body is never read, whatever the headers say. */
  private noBody = false;

  constructor(private readonly sink: ResponseSink) {}

  /** Ready for the next response on the same connection. */
  reset(noBody: boolean): void {
    this.state = State.Head;
    this.pending = undefined;
    this.trailerBytes = 0;
    this.noBody = noBody;
  }

  /** Feeds bytes; returns bytes left over after the response ended (a protocol error for callers). */
  feed(input: Buffer): Buffer | undefined {
    let buf = this.pending ? Buffer.concat([this.pending, input]) : input;
    this.pending = undefined;
    while (buf.length > 0) {
      switch (this.state) {
        case State.Head: {
          const end = buf.indexOf(CRLF_CRLF);
          // The limit holds however the head was split across reads.
          if ((end < 0 ? buf.length : end) > MAX_HEAD_BYTES) throw new ProtocolError('response head too large');
          if (end < 0) {
            this.pending = buf;
            return undefined;
          }
          this.parseHead(buf.toString('latin1', 0, end));
          buf = buf.subarray(end + 4);
          break;
        }
        case State.Length:
          buf = this.passBody(buf);
          if (this.remaining === 0) this.finish();
          break;
        case State.ChunkSize: {
          const eol = buf.indexOf('\r\n');
          if (eol < 0) {
            if (buf.length > 1024) throw new ProtocolError('chunk size line too long');
            // A bare LF, or a CR with something other than LF after it, can never end the line.
            const cr = buf.indexOf(13);
            if (buf.includes(10) || (cr >= 0 && cr < buf.length - 1))
              throw new ProtocolError('bad line ending in a chunk size line');
            this.pending = buf;
            return undefined;
          }
          const line = buf.toString('latin1', 0, eol);
          const m = /^([0-9a-fA-F]{1,15})[ \t]*(;.*)?$/.exec(line);
          if (!m) throw new ProtocolError(`bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
          this.remaining = parseInt(m[1]!, 16);
          buf = buf.subarray(eol + 2);
          this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
          break;
        }
        case State.ChunkData:
          buf = this.passBody(buf);
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          break;
        case State.ChunkDataEnd: {
          // Anything but CR first is wrong already; only a lone CR waits for its LF.
          if (buf[0] !== 13 || (buf.length > 1 && buf[1] !== 10)) throw new ProtocolError('chunk not followed by CRLF');
          if (buf.length < 2) {
            this.pending = buf;
            return undefined;
          }
          buf = buf.subarray(2);
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          // Trailers are dropped (they are hop-by-hop for kanari); read up to the empty line.
          const eol = buf.indexOf('\r\n');
          if (this.trailerBytes + (eol < 0 ? buf.length : eol) > MAX_HEAD_BYTES)
            throw new ProtocolError('trailers too large');
          if (eol < 0) {
            this.pending = buf;
            return undefined;
          }
          this.trailerBytes += eol + 2;
          // Dropped, but read as strictly as header lines: a bad one means a confused upstream.
          if (eol > 0) fieldLine(buf.toString('latin1', 0, eol));
          buf = buf.subarray(eol + 2);
          if (eol === 0) this.finish();
          break;
        }
        case State.UntilClose:
          this.sink.data(buf);
          return undefined;
        case State.Done:
          return buf;
      }
    }
    return undefined;
  }

  /** The connection closed: completes a read-until-close body, or is an error mid-response. */
  closed(): void {
    if (this.state === State.UntilClose) this.finish();
    else if (this.state !== State.Done) throw new ProtocolError('connection closed mid-response');
  }

  /** Passes on up to `remaining` body bytes; returns what is left of `buf`. */
  private passBody(buf: Buffer): Buffer {
    const n = Math.min(this.remaining, buf.length);
    this.sink.data(buf.subarray(0, n));
    this.remaining -= n;
    return buf.subarray(n);
  }

  private finish(): void {
    this.state = State.Done;
    this.sink.end();
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const m = STATUS_LINE.exec(lines[0]!);
    if (!m) throw new ProtocolError(`bad status line ${JSON.stringify(lines[0]!.slice(0, 60))}`);
    const http10 = m[1] === '0';
    const status = Number(m[2]);
    const raw: string[] = [];
    let contentLength: number | undefined;
    let transferEncoding: string | undefined;
    let connection = '';
    for (let i = 1; i < lines.length; i++) {
      const [name, value] = fieldLine(lines[i]!);
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        if (contentLength !== undefined) throw new ProtocolError('duplicate Content-Length');
        if (!/^\d{1,15}$/.test(value)) throw new ProtocolError(`bad Content-Length ${JSON.stringify(value)}`);
        contentLength = Number(value);
      } else if (lower === 'transfer-encoding') {
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
      } else if (lower === 'connection') {
        connection = connection ? `${connection}, ${value.toLowerCase()}` : value.toLowerCase();
      }
      raw.push(name, value);
    }
    if (status === 101) throw new ProtocolError('101 Switching Protocols to a request that asked for no upgrade');
    if (status < 200) {
      // 100 Continue, 103 Early Hints: informational, and the real response follows.
      return;
    }
    const tokens = connection.split(',').map((t) => t.trim());
    // close wins over keep-alive; HTTP/1.0 keeps the connection only when it says so.
    const keepAlive = !tokens.includes('close') && (!http10 || tokens.includes('keep-alive'));
    const chunked = transferEncoding !== undefined;
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing.
    if (chunked && http10) throw new ProtocolError('Transfer-Encoding in an HTTP/1.0 response');
    if (chunked) {
      if (contentLength !== undefined) throw new ProtocolError('both Content-Length and Transfer-Encoding');
      // A coding before chunked (gzip, chunked) would reach the client undecoded and unlabelled.
      if (transferEncoding!.toLowerCase() !== 'chunked')
        throw new ProtocolError(`Transfer-Encoding other than chunked (${transferEncoding})`);
    }
    const bodyless = this.noBody || status === 204 || status === 304;
    const untilClose = !bodyless && !chunked && contentLength === undefined;
    // A 204 that announces a body (or a 304 framed as chunked) is answered without one, but
    // if its upstream goes on to send that body, the bytes would start the next response.
    const announced =
      !this.noBody && ((status === 204 && (chunked || (contentLength ?? 0) > 0)) || (status === 304 && chunked));
    this.sink.head({ status, reason: m[3] ?? '', raw, keepAlive: keepAlive && !untilClose && !announced });
    if (bodyless || contentLength === 0) this.finish();
    else if (chunked) this.state = State.ChunkSize;
    else if (contentLength !== undefined) {
      this.remaining = contentLength;
      this.state = State.Length;
    } else this.state = State.UntilClose;
  }
}
