/**
 * The controller's REST API (JSON over HTTP on loopback, bearer token):
 *
 *   GET  /healthz                                    no token
 *   GET  /metrics                                    no token; Prometheus text
 *   GET  /api/v1/rollouts                            every rollout's view
 *   POST /api/v1/apply                {file, text}   apply a file's Rollouts
 *   GET  /api/v1/rollouts/NAME                       one rollout's view
 *   GET  /api/v1/rollouts/NAME/history?limit=N       its event log
 *   GET  /api/v1/rollouts/NAME/analyses/ID           an analysis run's report
 *   POST /api/v1/rollouts/NAME/deploy {version, set} start a rollout
 *   POST /api/v1/rollouts/NAME/promote {full}        and abort {reason}, pause, resume, retry, undo
 *   POST /api/v1/shutdown             {all}          stop the controller (all: routers and instances too)
 *
 * Errors are `{"error": {"status", "reason", "message", "issues"?}}`; a 500 carries only
 * an id, under which the whole error is logged.
 */
import http, { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { versionLabel } from '../config/schemas/rollout.js';
import { COMMANDS, ControllerError, type Command, type Controller } from './controller.js';
import { bearerChecker, HttpError, internalError, readBody, send, sendText } from '../shared/http.js';
import { renderControllerMetrics } from './metrics.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

const applyBody = z.strictObject({ file: z.string().min(1), text: z.string() });
const deployBody = z.strictObject({ version: versionLabel, set: z.record(z.string(), z.string()).default({}) });
const commandBody = z.strictObject({ full: z.boolean().optional(), reason: z.string().max(500).optional() });
const shutdownBody = z.strictObject({ all: z.boolean().default(false) });

export function createApiServer(
  controller: Controller,
  token: string,
  onShutdown: (all: boolean) => void,
  log: (line: string) => void = (line) => console.error(`kanari up: ${line}`),
): http.Server {
  const authorized = bearerChecker(token);
  return http.createServer((req, res) => {
    void (async () => {
      const url = requestUrl(req.url);
      const path = url.pathname;
      if (req.method === 'GET' && path === '/healthz') return send(res, 200, { ok: true, pid: process.pid });
      if (req.method === 'GET' && path === '/metrics')
        return sendText(
          res,
          200,
          renderControllerMetrics(controller.views(), controller.store, controller.lags(), controller.roundLag),
        );
      if (!authorized(req))
        throw new HttpError(
          401,
          'missing or wrong bearer token (Authorization: Bearer <token>; kanari up writes it to <state>/api-token)',
        );
      const body = async <S extends z.ZodType>(schema: S): Promise<z.output<S>> => {
        const text = await readBody(req, MAX_BODY_BYTES, 'request body');
        let json: unknown;
        try {
          json = text.trim() === '' ? {} : JSON.parse(text);
        } catch {
          throw new HttpError(400, 'the request body is not JSON');
        }
        const parsed = schema.safeParse(json);
        if (!parsed.success)
          throw new HttpError(
            400,
            parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
          );
        return parsed.data;
      };

      if (path === '/api/v1/rollouts') {
        allow(req, 'GET');
        return send(res, 200, { rollouts: controller.views() });
      }
      if (path === '/api/v1/apply') {
        allow(req, 'POST');
        const { file, text } = await body(applyBody);
        return send(res, 200, { applied: await controller.apply(file, text) });
      }
      if (path === '/api/v1/shutdown') {
        allow(req, 'POST');
        const { all } = await body(shutdownBody);
        send(res, 202, { stopping: true, all });
        return onShutdown(all);
      }
      const m = /^\/api\/v1\/rollouts\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(path);
      if (!m) throw new HttpError(404, `no such resource ${path} (see GET /api/v1/rollouts)`);
      const name = decodePart(m[1]!);
      const [sub, id] = [m[2], m[3] && decodePart(m[3])];
      if (sub === undefined) {
        allow(req, 'GET');
        return send(res, 200, controller.view(name));
      }
      if (sub === 'history' && id === undefined) {
        allow(req, 'GET');
        const limit = Number(url.searchParams.get('limit') ?? 1000);
        if (!Number.isInteger(limit) || limit < 1)
          throw new HttpError(400, `limit must be a positive integer (got ${url.searchParams.get('limit')})`);
        return send(res, 200, { events: controller.history(name, { limit }) });
      }
      if (sub === 'analyses' && id) {
        allow(req, 'GET');
        return send(res, 200, controller.report(name, id));
      }
      if (sub === 'deploy' && id === undefined) {
        allow(req, 'POST');
        const { version, set } = await body(deployBody);
        return send(res, 200, await controller.deploy(name, version, set));
      }
      if (COMMANDS.includes(sub as Command) && id === undefined) {
        allow(req, 'POST');
        return send(res, 200, await controller.command(name, sub as Command, await body(commandBody)));
      }
      throw new HttpError(
        404,
        `no such resource ${path} (rollout resources: history, analyses/ID, deploy, ${COMMANDS.join(', ')})`,
      );
    })().catch((err: unknown) => {
      const status = err instanceof HttpError || err instanceof ControllerError ? err.status : 500;
      const message =
        err instanceof HttpError || err instanceof ControllerError ? err.message : internalError(req, err, log);
      const extra =
        err instanceof ControllerError && err.issues
          ? { issues: err.issues }
          : err instanceof HttpError
            ? err.extra
            : {};
      const headers: Record<string, string> = {
        ...(err instanceof HttpError ? err.headers : {}),
        ...(status === 401
          ? { 'www-authenticate': 'Bearer' }
          : err instanceof HttpError && typeof err.extra.allow === 'string'
            ? { allow: err.extra.allow }
            : {}),
      };
      send(res, status, { error: { status, reason: STATUS_CODES[status], message, ...extra } }, headers);
    });
  });

  function allow(req: http.IncomingMessage, method: string): void {
    if (req.method !== method)
      throw new HttpError(405, `${req.method} is not allowed here (allowed: ${method})`, { allow: method });
  }
}

/** The request target as a URL; Node passes on targets (`//host:99999`) that URL cannot read. */
function requestUrl(target = '/'): URL {
  try {
    return new URL(target, 'http://localhost');
  } catch {
    throw new HttpError(400, `the request target is not a valid path (${JSON.stringify(target.slice(0, 200))})`);
  }
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, `the path is not valid percent-encoded UTF-8 (${JSON.stringify(part.slice(0, 200))})`);
  }
}
