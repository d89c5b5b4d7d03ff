// Hostname intersection between a Listener and a route (HTTPRoute, GRPCRoute, TLSRoute), hostname specificity, and the
// listener a hostname belongs to, as the spec defines them.

/** `*.example.com` covers `a.example.com` and `a.b.example.com`, not `example.com`; `*` covers all. */
export function covers(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  return pattern.startsWith('*.') && host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
}

/**
 * The hostnames a route serves on a listener (RouteSpec.hostnames): each route hostname that the
 * listener's covers, or the listener's where a route wildcard covers it; `['*']` when neither sets any.
 * Empty: no intersection, the route is not accepted for that listener (NoMatchingListenerHostname).
 */
export function intersect(listener: string | undefined, route: readonly string[]): string[] {
  if (route.length === 0) return [listener ?? '*'];
  if (listener === undefined) return [...route];
  const out = new Set<string>();
  for (const h of route) {
    if (covers(listener, h)) out.add(h);
    else if (covers(h, listener)) out.add(listener);
  }
  return [...out];
}

/**
 * Specificity of the hostname a route matched with: "precedence must be given to rules from the HTTPRoute
 * with the largest number of characters in a matching non-wildcard hostname, then in a matching hostname".
 */
export function specificity(hostname: string): [number, number] {
  return hostname.includes('*') ? [0, hostname.length] : [1, hostname.length];
}

/**
 * The listener hostname (`*` for none) that owns `name` among a port's: the most specific one covering it. Requests
 * (or SNI names) it covers belong to that listener only (GEP-1713 listener isolation).
 */
export function mostSpecific(hosts: Iterable<string>, name: string): string | undefined {
  return [...hosts].filter((h) => covers(h, name)).sort((x, y) => specificity(y)[0] - specificity(x)[0] || y.length - x.length)[0];
}
