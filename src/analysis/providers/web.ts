/**
 * The `web` provider: any HTTP endpoint that answers JSON, with `jsonPath` choosing the
 * value. A non-2xx status or a body that is not JSON is `error`; a path that leads
 * nowhere, or to null, is `empty`.
 */
import type { WebQuery } from '../../config/schemas/analysis.js';
import { httpRequest } from './http.js';
import { parseJsonPath, selectPath } from '../../config/json-path.js';
import { renderTemplate, templateValues } from '../../config/query-template.js';
import type { MetricProvider, MetricQuery, MetricResult, QueryContext, TimeWindow } from './types.js';

export class WebProvider implements MetricProvider {
  readonly name = 'web';

  async query(q: MetricQuery, window: TimeWindow, context: QueryContext): Promise<MetricResult> {
    if (!('web' in q)) return { kind: 'error', message: "the web provider was given another provider's query" };
    const query: WebQuery = q.web;
    const values = templateValues(query, context.service, window.end - window.start, context.targets);
    let url: string;
    try {
      url = renderTemplate(query.url, values, encodeURIComponent);
    } catch (err) {
      return { kind: 'error', message: (err as Error).message };
    }
    const res = await httpRequest(url, {
      method: query.method,
      headers: query.headers,
      timeoutMs: query.timeout,
      ...(query.body === undefined ? {} : { body: renderTemplate(query.body, values) }),
    });
    if (res.kind !== 'ok') return res;
    if (res.status < 200 || res.status >= 300)
      return { kind: 'error', message: `${url} answered ${res.status}: ${res.text.slice(0, 200)}` };
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      return { kind: 'error', message: `${url} answered something that is not JSON: ${res.text.slice(0, 120)}` };
    }
    const value = selectPath(body, parseJsonPath(query.jsonPath));
    if (value === undefined || value === null)
      return { kind: 'empty', message: `${query.jsonPath} is ${value === null ? 'null' : 'missing'} in the answer` };
    return { kind: 'value', value };
  }
}
