// Gateway API `PathPrefix`: a prefix matched element by element, split on "/" (not character by character).

/**
 * https://gateway-api.sigs.k8s.io/reference/spec/#pathmatchtype: "/abc", "/abc/" and "/abc/def" match the
 * prefix "/abc", "/abcd" does not; a trailing "/" of the prefix is ignored. Envoy's `path_separated_prefix`,
 * which Istio emits for it, is the same rule. `prefix` comes normalized from config (no trailing "/" unless "/").
 */
export function segmentPrefixTest(prefix: string): (path: string) => boolean {
  const p = prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (p === '/' || p === '') return (v) => v.startsWith('/');
  const n = p.length;
  return (v) => v.startsWith(p) && (v.length === n || v.charCodeAt(n) === 47);
}
