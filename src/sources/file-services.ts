// Kubernetes Services found in -f files stand for their hosts, as they do in a cluster: each becomes the same
// ServiceEntry the cluster source makes of it (sources/kubernetes' translate), so a VirtualService naming `nginx`
// next to a Service `nginx` is not an "unknown host".
import type { RawResource } from '../config/index.js';
import { BACKENDS_ANNOTATION, translate } from './kubernetes/index.js';

const isService = (r: RawResource) => r.kind === 'Service' && r.apiVersion === 'v1';

/**
 * The resources with each core/v1 Service replaced by its ServiceEntry (placed where the Service was, keeping its
 * file and positions for problems). Files hold no EndpointSlices or Pods, so the entries have no endpoints and the
 * cluster-only warnings (selectors, backends) are not made; nor do they get listeners: a Service in a file names
 * a destination, it does not ask the gateway to bind its port.
 */
export function servicesAsEntries(raw: readonly RawResource[]): RawResource[] {
  if (!raw.some(isService)) return [...raw];
  const out: RawResource[] = [];
  for (const r of raw) {
    if (!isService(r)) {
      out.push(r);
      continue;
    }
    // Without its takeover annotation a Service is a plain destination to translate(): no listener, and no
    // warnings about backends and selectors that only a cluster's endpoints could settle.
    const metadata: Record<string, unknown> = { ...(r.object.metadata as Record<string, unknown>), namespace: r.namespace };
    const annotations = { ...(metadata.annotations as Record<string, unknown> | undefined) };
    delete annotations[BACKENDS_ANNOTATION];
    const services = [{ ...r.object, metadata: { ...metadata, annotations } }];
    const [entry] = translate({ istio: [], services, endpointSlices: [], pods: [] }).resources;
    // A Service with no TCP port (or an ExternalName without a name) defines no host: left as it was (skipped).
    if (!entry) {
      out.push(r);
      continue;
    }
    out.push({ ...entry, file: r.file, base: r.base, locate: () => r.locate([]) });
  }
  return out;
}
