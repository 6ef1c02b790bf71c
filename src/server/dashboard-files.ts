/**
 * The dashboard's built files (dist/web, made by `npm run build`), served by the controller
 * at `/`, `/assets/*` and the dashboard's own routes (docs/dashboard.md). Every file is read
 * into memory once, at start, and looked up by its exact path: no request ever reaches the
 * file system, so no path can climb out of the folder. They hold no data (that comes from
 * the API after sign-in), so they are public.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpError } from '../shared/http.js';

/** From src/server/ (tsx) and dist/server/ (built) alike, the checkout's dist/web. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/** The same headers on every file: docs/dashboard.md says why each is there. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Longer request targets are refused before anything else is looked at. */
const MAX_PATH = 2048;

interface File {
  body: Buffer;
  type: string;
  etag: string;
}

/** The dashboard's files by URL path (`/index.html`, `/assets/main.js`); empty when it was not built. */
export function loadDashboard(dir = DASHBOARD_DIR): Map<string, File> {
  const files = new Map<string, File>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at)) {
      const path = join(at, entry);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const type = TYPES[extname(entry)];
        if (type === undefined) continue; // source maps and the like are not served
        const body = readFileSync(path);
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
        files.set(`/${relative(dir, path).split(sep).join('/')}`, { body, type, etag });
      }
    }
  };
  try {
    walk(dir);
  } catch {
    /* not built: `/` says so */
  }
  return files;
}

/**
 * Answers a request for the dashboard and returns true, or returns false for the API's
 * dispatcher to answer (a path it does not serve). Throws an HttpError for a target it refuses.
 */
export function serveDashboard(files: Map<string, File>, req: IncomingMessage, res: ServerResponse): boolean {
  const target = req.url ?? '/';
  const path = target.split('?')[0]!;
  if (path.startsWith('/api/') || path.startsWith('/auth/')) return false;
  const own = path === '/' || path === '/index.html' || path.startsWith('/assets/');
  const page = !own && (req.headers.accept ?? '').includes('text/html');
  if (!own && !page) return false;
  checkTarget(target, path);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    if (!own) return false;
    throw new HttpError(405, `${req.method} is not allowed here (allowed: GET, HEAD)`, {}, { allow: 'GET, HEAD' });
  }
  const file = files.get(path.startsWith('/assets/') ? path : '/index.html');
  if (!file) {
    if (files.size === 0)
      throw new HttpError(503, 'the dashboard is not built: run `npm run build` in the kanari checkout');
    throw new HttpError(404, `no such file ${path}`);
  }
  const headers = {
    ...DASHBOARD_HEADERS,
    'content-type': file.type,
    etag: file.etag,
    // Names are not hashed, so a browser asks each time; the ETag makes that a 304.
    'cache-control': 'no-cache',
  };
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, headers).end();
    return true;
  }
  res.writeHead(200, { ...headers, 'content-length': file.body.length });
  res.end(req.method === 'HEAD' ? undefined : file.body);
  return true;
}

/** Refuses what no built file is named like and what is only ever sent to get past a check. */
function checkTarget(target: string, path: string): void {
  if (target.length > MAX_PATH) throw new HttpError(414, `the request target is longer than ${MAX_PATH} characters`);
  const refused = /%(00|2f|5c|2e)/i.test(path)
    ? 'an encoded NUL, slash, backslash or dot'
    : /[\\\0]/.test(path)
      ? 'a backslash or NUL'
      : /(^|\/)\.\.?(\/|$)/.test(path)
        ? 'a . or .. segment'
        : path.includes('//')
          ? 'an empty segment'
          : undefined;
  if (refused) throw new HttpError(400, `the path has ${refused}, which no dashboard file has`);
  try {
    decodeURIComponent(path);
  } catch {
    // The page reads its rollout's name from the path, and would stop there.
    throw new HttpError(400, 'the path is not valid percent-encoded UTF-8');
  }
}
