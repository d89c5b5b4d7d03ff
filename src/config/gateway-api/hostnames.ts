// Hostname intersection between a Listener and an HTTPRoute, and hostname specificity, as the spec defines them.

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
