/**
 * Minimal CustomResourceDefinitions for tests to install in the test API server: Gateway
 * API's HTTPRoute and Istio's VirtualService and DestinationRule, written here after the
 * upstream CRDs with only the fields kanari reads or writes. What matters is kept as
 * upstream has it: `rules` (HTTPRoute) and `http` (VirtualService) carry no
 * `x-kubernetes-list-type`, so they are ATOMIC under server-side apply; HTTPRoute match
 * `headers` are a map list keyed by name; unknown fields are pruned except where upstream
 * preserves them; `weight` defaults to 1 and is bounded as upstream bounds it.
 */
const str = { type: 'string' };
const int = (minimum?: number, maximum?: number, extra: Record<string, unknown> = {}) => ({
  type: 'integer',
  ...(minimum !== undefined ? { minimum } : {}),
  ...(maximum !== undefined ? { maximum } : {}),
  ...extra,
});
const list = (items: unknown, extra: Record<string, unknown> = {}) => ({ type: 'array', items, ...extra });
const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  properties,
  ...extra,
});
const preserved = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

function crd(
  group: string,
  kind: string,
  plural: string,
  versions: string[],
  spec: unknown,
  printerColumns: unknown[] = [],
) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: versions.map((name, i) => ({
        name,
        served: true,
        storage: i === 0,
        subresources: { status: {} },
        ...(printerColumns.length > 0 ? { additionalPrinterColumns: printerColumns } : {}),
        schema: { openAPIV3Schema: obj({ spec, status: preserved }) },
      })),
    },
  };
}

const backendRef = obj(
  {
    group: str,
    kind: { type: 'string', default: 'Service' },
    name: { type: 'string', minLength: 1, maxLength: 253 },
    namespace: str,
    port: int(1, 65535),
    weight: int(0, 1000000, { default: 1 }),
  },
  { required: ['name'] },
);
const headerModifier = obj({
  set: list(obj({ name: str, value: str }, { required: ['name', 'value'] }), {
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
  }),
  add: list(obj({ name: str, value: str }, { required: ['name', 'value'] }), {
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
  }),
  remove: list(str, { 'x-kubernetes-list-type': 'set' }),
});
const filter = obj(
  {
    type: {
      type: 'string',
      enum: [
        'RequestHeaderModifier',
        'ResponseHeaderModifier',
        'RequestMirror',
        'RequestRedirect',
        'URLRewrite',
        'ExtensionRef',
      ],
    },
    requestHeaderModifier: headerModifier,
    responseHeaderModifier: headerModifier,
    requestMirror: obj(
      { backendRef, percent: int(0, 100), fraction: obj({ numerator: int(0), denominator: int(1) }) },
      { required: ['backendRef'] },
    ),
    requestRedirect: preserved,
    urlRewrite: preserved,
    extensionRef: preserved,
  },
  { required: ['type'] },
);
const match = obj({
  path: obj({
    type: { type: 'string', enum: ['Exact', 'PathPrefix', 'RegularExpression'], default: 'PathPrefix' },
    value: { type: 'string', default: '/', maxLength: 1024 },
  }),
  headers: list(
    obj(
      {
        type: { type: 'string', enum: ['Exact', 'RegularExpression'], default: 'Exact' },
        name: { type: 'string', pattern: "^[A-Za-z0-9!#$%&'*+\\-.^_`|~]+$" },
        value: str,
      },
      { required: ['name', 'value'] },
    ),
    {
      maxItems: 16,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
  ),
  queryParams: list(preserved),
  method: { type: 'string', enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] },
});

/** gateway.networking.k8s.io HTTPRoute, v1 (and v1beta1), with rule `name` as in v1.2+ (`withRuleName: false` for older CRDs). */
export function httpRouteCrd(options: { withRuleName?: boolean } = {}) {
  const rule = obj({
    ...(options.withRuleName === false
      ? {}
      : { name: { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' } }),
    matches: list(match, { maxItems: 64, default: [{ path: { type: 'PathPrefix', value: '/' } }] }),
    filters: list(filter, { maxItems: 16 }),
    backendRefs: list(
      obj({ ...backendRef.properties, filters: list(filter, { maxItems: 16 }) }, { required: ['name'] }),
      { maxItems: 16 },
    ),
    timeouts: preserved,
  });
  const spec = obj({
    parentRefs: list(
      obj(
        { group: str, kind: str, namespace: str, name: str, sectionName: str, port: int(1, 65535) },
        { required: ['name'] },
      ),
      { maxItems: 32 },
    ),
    hostnames: list(str, { maxItems: 16 }),
    rules: list(rule, { maxItems: 16, default: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }] }),
  });
  return crd('gateway.networking.k8s.io', 'HTTPRoute', 'httproutes', ['v1', 'v1beta1'], spec, [
    { name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ]);
}

const destination = obj({ host: str, subset: str, port: obj({ number: int(0, 4294967295) }) }, { required: ['host'] });

/** networking.istio.io VirtualService, v1 (and v1beta1, v1alpha3). */
export function virtualServiceCrd() {
  const route = obj({
    name: str,
    match: list(preserved),
    route: list(obj({ destination, weight: int(), headers: preserved })),
    mirror: destination,
    mirrorPercentage: obj({ value: { type: 'number', minimum: 0, maximum: 100 } }),
    mirror_percent: int(),
    retries: preserved,
    timeout: str,
    headers: preserved,
    rewrite: preserved,
    fault: preserved,
  });
  const spec = obj({
    hosts: list(str),
    gateways: list(str),
    exportTo: list(str),
    http: list(route),
    tcp: list(preserved),
    tls: list(preserved),
  });
  return crd('networking.istio.io', 'VirtualService', 'virtualservices', ['v1', 'v1beta1', 'v1alpha3'], spec, [
    { name: 'Gateways', type: 'string', jsonPath: '.spec.gateways' },
    { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ]);
}

/** networking.istio.io DestinationRule, v1 (and v1beta1, v1alpha3). */
export function destinationRuleCrd() {
  const subset = obj(
    { name: str, labels: { type: 'object', additionalProperties: str }, trafficPolicy: preserved },
    { required: ['name'] },
  );
  const spec = obj(
    { host: str, subsets: list(subset), trafficPolicy: preserved, exportTo: list(str) },
    { required: ['host'] },
  );
  return crd('networking.istio.io', 'DestinationRule', 'destinationrules', ['v1', 'v1beta1', 'v1alpha3'], spec, [
    { name: 'Host', type: 'string', jsonPath: '.spec.host' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ]);
}
