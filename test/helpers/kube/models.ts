/**
 * Validates Kubernetes objects against the official schemas, by apiVersion and kind, with
 * kubernetes-models (and its Gateway API and Istio packages): what kanari prints or ships
 * as an example must be what a real API server would take.
 */
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Lease } from 'kubernetes-models/coordination.k8s.io/v1/Lease';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { Event } from 'kubernetes-models/v1/Event';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { DestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule';
import { VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService';

type Model = new (data: never) => { validate(): void };

const MODELS: Record<string, Model> = {
  'apiextensions.k8s.io/v1 CustomResourceDefinition': CustomResourceDefinition,
  'apps/v1 Deployment': Deployment,
  'coordination.k8s.io/v1 Lease': Lease,
  'networking.k8s.io/v1 Ingress': Ingress,
  'rbac.authorization.k8s.io/v1 ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1 ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1 Role': Role,
  'rbac.authorization.k8s.io/v1 RoleBinding': RoleBinding,
  'v1 Event': Event,
  'v1 Namespace': Namespace,
  'v1 Secret': Secret,
  'v1 Service': Service,
  'v1 ServiceAccount': ServiceAccount,
  'gateway.networking.k8s.io/v1 HTTPRoute': HTTPRoute,
  'networking.istio.io/v1beta1 DestinationRule': DestinationRule,
  'networking.istio.io/v1beta1 VirtualService': VirtualService,
};

/** Throws, naming the object, unless its kind is known here and the object is valid. */
export function validateObject(obj: unknown): void {
  const { apiVersion, kind, metadata } = (obj ?? {}) as {
    apiVersion?: string;
    kind?: string;
    metadata?: { name?: string };
  };
  const Model = MODELS[`${apiVersion} ${kind}`];
  if (!Model) throw new Error(`no schema here for ${apiVersion} ${kind}; add its kubernetes-models class to MODELS`);
  try {
    new Model(obj as never).validate();
  } catch (err) {
    throw new Error(`${kind} ${metadata?.name}: ${(err as Error).message}`, { cause: err });
  }
}
