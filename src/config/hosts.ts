// Host names as Istio resolves them: a short name lives in the resource's namespace.

export const CLUSTER_DOMAIN = 'svc.cluster.local';

/** `nginx` in namespace `default` → `nginx.default.svc.cluster.local`; names with a dot stay as they are. */
export function resolveHost(host: string, namespace: string): string {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === '*' || h.includes('.')) return h;
  return `${h}.${namespace}.${CLUSTER_DOMAIN}`;
}

/** Every name a client in the same namespace may use for a service host, as Istio's sidecar virtual hosts list them. */
export function hostAliases(fqdn: string): string[] {
  const suffix = `.${CLUSTER_DOMAIN}`;
  if (!fqdn.endsWith(suffix)) return [fqdn];
  const [name, ns] = fqdn.slice(0, -suffix.length).split('.');
  if (!name || !ns) return [fqdn];
  return [name, `${name}.${ns}`, `${name}.${ns}.svc`, fqdn];
}

/** Istio host matching: exact, or a `*.suffix` / `*` wildcard on the left. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

export function clusterName(port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`;
}
