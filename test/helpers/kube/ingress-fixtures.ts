/**
 * What a user has in the cluster before kanari arrives, for the ingress slice's tests: an
 * Ingress with paths to several Services, the Service users reach, and a pod template.
 */
import type { KubeObject } from '../../../src/kube/api.js';

const P = 'nginx.ingress.kubernetes.io';

export const userIngress: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: {
    name: 'shop',
    namespace: 'prod',
    annotations: { [`${P}/rewrite-target`]: '/', 'kubernetes.io/ingress.class': 'nginx' },
  },
  spec: {
    ingressClassName: 'nginx',
    tls: [{ hosts: ['shop.example.com'], secretName: 'shop-tls' }],
    rules: [
      {
        host: 'shop.example.com',
        http: {
          paths: [
            { path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } },
            { path: '/api', pathType: 'Prefix', backend: { service: { name: 'api', port: { name: 'http' } } } },
          ],
        },
      },
      {
        host: 'admin.example.com',
        http: {
          paths: [{ path: '/', pathType: 'Exact', backend: { service: { name: 'admin', port: { number: 80 } } } }],
        },
      },
      {
        http: {
          paths: [{ path: '/web', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }],
        },
      },
    ],
  },
};

export const template = {
  metadata: { labels: { app: 'shop', tier: 'web' }, annotations: { team: 'checkout' } },
  spec: { containers: [{ name: 'web', image: 'shop:2', ports: [{ containerPort: 8080, name: 'http' }] }] },
};
export const userService: KubeObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'prod' },
  spec: {
    type: 'NodePort',
    selector: { app: 'shop' },
    ports: [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', nodePort: 30080 },
      { name: 'admin', port: 9090, targetPort: 9090 },
    ],
  },
};
