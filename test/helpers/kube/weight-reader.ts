/**
 * What the weight exporter reads, with its own code: plain GETs of an API server's JSON (no
 * kanari client, no kanari adapter), turned into where one kind of request goes — each
 * path a share, the Deployment that serves it (by the Service's selector and ready pods,
 * as kube-proxy spreads) and the names each proxy's metrics give it. Objects are read as
 * a user may have edited them: any shape is a clear error, never a crash.
 */

import { count, ExporterError, labels, list, must, obj, text, type Get, type Json } from './json-read.js';

export { apiGet, ExporterError, type Get } from './json-read.js';

/** The objects a rollout's traffic is configured in, one router's kind. */
export type ExportedRouting =
  | { gatewayapi: { httpRoute: string; namespace?: string } }
  | { istio: { virtualService: string; destinationRule: string; apiVersion?: string } }
  | { nginx: { ingress: string; annotationPrefix?: string } }
  | { replicas: { service: string } };

/** One kind of request the exporter sends: its headers (lowercase names; a cookie is the `cookie` header). */
export type RequestHeaders = Record<string, string>;

export interface TrafficPath {
  /** Of this kind of request, in [0, 1]. */
  share: number;
  /** The Deployment whose pods answer; undefined when the backend has no ready pod (its share fails). */
  deployment?: string;
  /** The backend Service (ingress-nginx's `service` label). */
  service: string;
  /** The Ingress that routed it (ingress-nginx), and whether it is a canary one. */
  ingress?: { name: string; canary: boolean };
  /** The Envoy cluster Envoy Gateway would count it under. */
  envoyCluster?: string;
}

/** Reads one rollout's objects in `namespace`; `paths(headers)` says where that kind of request goes. */
export class WeightReader {
  constructor(
    private readonly get: Get,
    private readonly namespace: string,
    private readonly routing: ExportedRouting,
  ) {}

  async paths(headers: RequestHeaders = {}): Promise<TrafficPath[]> {
    const r = this.routing;
    if ('gatewayapi' in r) return this.httpRoute(r.gatewayapi, headers);
    if ('istio' in r) return this.virtualService(r.istio, headers);
    if ('nginx' in r) return this.ingress(r.nginx, headers);
    return this.service(r.replicas.service, 1, {});
  }

  /** The Deployments behind a Service (and a subset's labels), each with its share of `share` by ready pods. */
  async service(name: string, share: number, extra: Record<string, string>): Promise<TrafficPath[]> {
    const ns = this.namespace;
    const svc = await must(this.get, `/api/v1/namespaces/${ns}/services/${name}`);
    const selector = {
      ...labels(obj(svc['spec'], `Service ${name} spec`)['selector'], `Service ${name} spec.selector`),
      ...extra,
    };
    if (Object.keys(selector).length === 0) throw new ExporterError(`Service ${name} selects no pods (no selector)`);
    const ready: [string, number][] = [];
    for (const d of await this.deploymentPods())
      if (d.ready > 0 && Object.entries(selector).every(([k, v]) => d.podLabels[k] === v))
        ready.push([d.name, d.ready]);
    const total = ready.reduce((s, [, n]) => s + n, 0);
    if (total === 0) return [{ share, service: name }];
    return ready.map(([deployment, n]) => ({ share: (share * n) / total, deployment, service: name }));
  }

  /** Every Deployment of the namespace: its pods' labels, and how many it wants, has ready and available. */
  async deploymentPods(): Promise<
    { name: string; podLabels: Record<string, string>; spec: number; ready: number; available: number }[]
  > {
    const answer = obj(await this.get(`/apis/apps/v1/namespaces/${this.namespace}/deployments`), 'deployments');
    return list(answer['items'], 'deployments.items').map((d, i) => {
      const where = `deployments.items[${i}]`;
      const o = obj(d, where);
      const name = text(obj(o['metadata'], `${where}.metadata`)['name'], `${where}.metadata.name`);
      const spec = obj(o['spec'], `${where}.spec`);
      const template = obj(spec['template'], `${where}.spec.template`);
      const status = obj(o['status'] ?? {}, `${where}.status`);
      return {
        name,
        podLabels: labels(
          obj(template['metadata'] ?? {}, `${where}.spec.template.metadata`)['labels'],
          `${where} pod labels`,
        ),
        spec: count(spec['replicas'], `${where}.spec.replicas`, 1),
        ready: count(status['readyReplicas'], `${where}.status.readyReplicas`, 0),
        available: count(status['availableReplicas'], `${where}.status.availableReplicas`, 0),
      };
    });
  }

  private async httpRoute(
    c: { httpRoute: string; namespace?: string },
    headers: RequestHeaders,
  ): Promise<TrafficPath[]> {
    const ns = c.namespace ?? this.namespace;
    const where = `HTTPRoute ${ns}/${c.httpRoute}`;
    const route = await must(this.get, `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes/${c.httpRoute}`);
    const rules = list(obj(route['spec'], `${where} spec`)['rules'], `${where} spec.rules`);
    // The Gateway API's precedence, paths aside: the matching match with the most header
    // matches wins, and a tie goes to the first rule in list order.
    let chosen: { ri: number; headers: number } | undefined;
    for (const [ri, r] of rules.entries()) {
      const rule = obj(r, `${where} rules[${ri}]`);
      const matches = list(rule['matches'], `${where} rules[${ri}].matches`).map((m, mi) =>
        obj(m, `${where} rules[${ri}].matches[${mi}]`),
      );
      const matching = matches.length === 0 ? [0] : matches.filter((m) => gatewayMatch(m, headers)).map(headerCount);
      for (const n of matching) if (!chosen || n > chosen.headers) chosen = { ri, headers: n };
    }
    for (const [ri, r] of rules.entries()) {
      if (ri !== chosen?.ri) continue;
      const rule = obj(r, `${where} rules[${ri}]`);
      const refs = list(rule['backendRefs'], `${where} rules[${ri}].backendRefs`).map((b, bi) =>
        obj(b, `${where} rules[${ri}].backendRefs[${bi}]`),
      );
      // Envoy Gateway makes a cluster per backendRef only when backendRefs carry filters; else one for the rule.
      const perBackend = refs.some((b) => list(b['filters'], 'filters').length > 0);
      const weights = refs.map((b, bi) => count(b['weight'], `${where} rules[${ri}].backendRefs[${bi}].weight`, 1));
      const total = weights.reduce((s, w) => s + w, 0);
      if (total === 0) return [{ share: 1, service: '' }]; // Gateway API: no backend with weight answers 500
      const out: TrafficPath[] = [];
      for (const [bi, b] of refs.entries()) {
        if (weights[bi] === 0) continue;
        const name = text(b['name'], `${where} rules[${ri}].backendRefs[${bi}].name`);
        const envoyCluster = `httproute/${ns}/${c.httpRoute}/rule/${ri}${perBackend ? `/backend/${bi}` : ''}`;
        for (const p of await this.service(name, weights[bi]! / total, {})) out.push({ ...p, envoyCluster });
      }
      return out;
    }
    throw new ExporterError(`${where}: no rule matches a request with headers ${JSON.stringify(headers)}`);
  }

  private async virtualService(
    c: { virtualService: string; destinationRule: string; apiVersion?: string },
    headers: RequestHeaders,
  ): Promise<TrafficPath[]> {
    const base = `/apis/${c.apiVersion ?? 'networking.istio.io/v1beta1'}/namespaces/${this.namespace}`;
    const where = `VirtualService ${c.virtualService}`;
    const vs = await must(this.get, `${base}/virtualservices/${c.virtualService}`);
    const dr = await must(this.get, `${base}/destinationrules/${c.destinationRule}`);
    const subsets = new Map<string, Record<string, string>>();
    for (const [i, s] of list(
      obj(dr['spec'], 'DestinationRule spec')['subsets'],
      'DestinationRule spec.subsets',
    ).entries()) {
      const o = obj(s, `DestinationRule subsets[${i}]`);
      subsets.set(
        text(o['name'], `DestinationRule subsets[${i}].name`),
        labels(o['labels'], `DestinationRule subsets[${i}].labels`),
      );
    }
    const http = list(obj(vs['spec'], `${where} spec`)['http'], `${where} spec.http`);
    for (const [hi, h] of http.entries()) {
      const route = obj(h, `${where} http[${hi}]`);
      const matches = list(route['match'], `${where} http[${hi}].match`);
      if (
        matches.length > 0 &&
        !matches.some((m, mi) => istioMatch(obj(m, `${where} http[${hi}].match[${mi}]`), headers))
      )
        continue;
      const dests = list(route['route'], `${where} http[${hi}].route`).map((d, di) =>
        obj(d, `${where} http[${hi}].route[${di}]`),
      );
      const weights = dests.map((d, di) =>
        count(d['weight'], `${where} http[${hi}].route[${di}].weight`, dests.length === 1 ? 100 : 0),
      );
      const total = weights.reduce((s, w) => s + w, 0);
      if (total === 0) throw new ExporterError(`${where} http[${hi}] sends nowhere (no destination with weight)`);
      const out: TrafficPath[] = [];
      for (const [di, d] of dests.entries()) {
        if (weights[di] === 0) continue;
        const dest = obj(d['destination'], `${where} http[${hi}].route[${di}].destination`);
        const host = text(dest['host'], `${where} http[${hi}].route[${di}].destination.host`).split('.')[0]!;
        const subset =
          dest['subset'] === undefined
            ? undefined
            : text(dest['subset'], `${where} http[${hi}].route[${di}].destination.subset`);
        const extra = subset === undefined ? {} : subsets.get(subset);
        if (!extra)
          throw new ExporterError(
            `${where} http[${hi}].route[${di}] names subset "${subset}", which DestinationRule ${c.destinationRule} does not define`,
          );
        out.push(...(await this.service(host, weights[di]! / total, extra)));
      }
      return out;
    }
    throw new ExporterError(`${where}: no http route matches a request with headers ${JSON.stringify(headers)}`);
  }

  private async ingress(
    c: { ingress: string; annotationPrefix?: string },
    headers: RequestHeaders,
  ): Promise<TrafficPath[]> {
    const prefix = c.annotationPrefix ?? 'nginx.ingress.kubernetes.io';
    const all = list(
      obj(await this.get(`/apis/networking.k8s.io/v1/namespaces/${this.namespace}/ingresses`), 'ingresses')['items'],
      'ingresses.items',
    );
    const ingresses = all.map((x, i) => readIngress(obj(x, `ingresses.items[${i}]`), prefix));
    const main = ingresses.find((i) => i.name === c.ingress);
    if (!main) throw new ExporterError(`Ingress ${c.ingress} does not exist`);
    // ingress-nginx takes one canary Ingress per host and path of the main one.
    const canary = ingresses
      .filter((i) => i.canary && i.name !== main.name && i.host === main.host && i.path === main.path)
      .sort((a, b) => a.name.localeCompare(b.name))[0];
    let share = 0;
    if (canary) {
      const a = canary.annotations;
      const header = a[`${prefix}/canary-by-header`];
      const headerValue = header === undefined ? undefined : headers[header.toLowerCase()];
      const cookie = a[`${prefix}/canary-by-cookie`];
      const cookieValue = cookie === undefined ? undefined : cookieOf(headers['cookie'], cookie);
      const wanted = a[`${prefix}/canary-by-header-value`];
      if (headerValue !== undefined && (wanted === undefined ? ['always', 'never'].includes(headerValue) : true))
        share = (wanted === undefined ? headerValue === 'always' : headerValue === wanted) ? 1 : 0;
      else if (cookieValue === 'always' || cookieValue === 'never') share = cookieValue === 'always' ? 1 : 0;
      else {
        const weight = Number(a[`${prefix}/canary-weight`] ?? 0);
        const total = Number(a[`${prefix}/canary-weight-total`] ?? 100);
        if (!Number.isInteger(weight) || !Number.isInteger(total) || total <= 0 || weight < 0)
          throw new ExporterError(
            `Ingress ${canary.name}: canary-weight ${a[`${prefix}/canary-weight`]} of ${a[`${prefix}/canary-weight-total`] ?? 100} is not a weight`,
          );
        share = Math.min(1, weight / total);
      }
    }
    const to = async (i: typeof main, s: number) =>
      s === 0
        ? []
        : (await this.service(i.service, s, {})).map((p) => ({ ...p, ingress: { name: i.name, canary: i !== main } }));
    return [...(await to(main, 1 - share)), ...(canary ? await to(canary, share) : [])];
  }
}

function readIngress(o: Json, prefix: string) {
  const meta = obj(o['metadata'], 'Ingress metadata');
  const name = text(meta['name'], 'Ingress metadata.name');
  const annotations = labels(meta['annotations'], `Ingress ${name} annotations`);
  const spec = obj(o['spec'], `Ingress ${name} spec`);
  const rule = list(spec['rules'], `Ingress ${name} spec.rules`)[0];
  const r = rule === undefined ? undefined : obj(rule, `Ingress ${name} spec.rules[0]`);
  const p = r && list(obj(r['http'], `Ingress ${name} spec.rules[0].http`)['paths'], `Ingress ${name} paths`)[0];
  const backend = p
    ? obj(obj(p, `Ingress ${name} paths[0]`)['backend'], `Ingress ${name} paths[0].backend`)
    : spec['defaultBackend'];
  const service = text(
    obj(obj(backend, `Ingress ${name} backend`)['service'], `Ingress ${name} backend.service`)['name'],
    `Ingress ${name} backend.service.name`,
  );
  return {
    name,
    annotations,
    canary: annotations[`${prefix}/canary`] === 'true',
    host: r?.['host'] ?? '',
    path: p ? (obj(p, 'path')['path'] ?? '/') : '',
    service,
  };
}

/** Gateway API: every header matcher of the match holds (Exact by default; RegularExpression too). */
function headerCount(m: Json): number {
  return list(m['headers'], 'headers').length;
}

function gatewayMatch(m: Json, headers: RequestHeaders): boolean {
  if (list(m['queryParams'], 'queryParams').length > 0) return false;
  return list(m['headers'], 'headers').every((h, i) => {
    const o = obj(h, `headers[${i}]`);
    const have = headers[text(o['name'], `headers[${i}].name`).toLowerCase()];
    const want = text(o['value'], `headers[${i}].value`);
    return (
      have !== undefined && (o['type'] === 'RegularExpression' ? new RegExp(`^(?:${want})$`).test(have) : have === want)
    );
  });
}

/** Istio: every header of the match holds by exact, prefix or regex. */
function istioMatch(m: Json, headers: RequestHeaders): boolean {
  if (m['queryParams'] !== undefined || m['withoutHeaders'] !== undefined) return false;
  return Object.entries(obj(m['headers'] ?? {}, 'match.headers')).every(([name, how]) => {
    const have = headers[name.toLowerCase()];
    const h = obj(how, `match.headers.${name}`);
    if (have === undefined) return false;
    if (typeof h['exact'] === 'string') return have === h['exact'];
    if (typeof h['prefix'] === 'string') return have.startsWith(h['prefix']);
    if (typeof h['regex'] === 'string') return new RegExp(`^(?:${h['regex']})$`).test(have);
    throw new ExporterError(`match.headers.${name} has no exact, prefix or regex`);
  });
}

function cookieOf(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}
