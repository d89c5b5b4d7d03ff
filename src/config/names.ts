// Istio's rules for names: DNS labels, hosts with a leading wildcard, Kubernetes label keys and values, IPs and CIDRs,
// Unix socket paths (pkg/config/labels and pkg/config/validation/agent in istio/istio). Each returns the reason a name
// is refused, or undefined when it is fine, so callers report it at their own field path.
import { isIP } from 'node:net';

const DNS1123_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
/** `*`, a label, or a label led by `*` or `*-` (`*foo`, `*-foo`): Istio's wildcardPrefix. */
const WILDCARD_LABEL = /^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;
const QUALIFIED_NAME = '(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_KEY = new RegExp(`^((?:[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)(?:\\.[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)*/)?(${QUALIFIED_NAME})$`);
const LABEL_VALUE = new RegExp(`^(?:${QUALIFIED_NAME})?$`);

export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

/** Every dot-separated label a DNS-1123 label, the last not all digits; a trailing dot is allowed. */
function dnsLabels(domain: string): string | undefined {
  const parts = domain.split('.');
  const tld = parts[parts.length - 1]!;
  if (/^\d+$/.test(tld)) return `"${domain}" is not a valid domain name (its top-level domain "${tld}" is all digits)`;
  for (const [i, label] of parts.entries()) {
    if (i === parts.length - 1 && label === '' && i > 0) return undefined;
    if (!isDns1123Label(label)) return `"${domain}" is not a valid domain name (label "${label}")`;
  }
  return undefined;
}

function preconditions(domain: string): string | undefined {
  if (domain.length === 0) return 'an empty domain name is not allowed';
  if (domain.length > 255) return `domain name "${domain.slice(0, 32)}…" is longer than 255 characters`;
  return undefined;
}

/** Istio's ValidateFQDN: a DNS name, no wildcard. */
export function fqdnProblem(domain: string): string | undefined {
  return preconditions(domain) ?? dnsLabels(domain);
}

/** Istio's ValidateWildcardDomain: a DNS name whose first label may be `*`, `*foo` or `*-foo`. */
export function wildcardDomainProblem(domain: string): string | undefined {
  const pre = preconditions(domain);
  if (pre) return pre;
  const dot = domain.indexOf('.');
  const first = dot === -1 ? domain : domain.slice(0, dot);
  if (first.length > 63 || !WILDCARD_LABEL.test(first)) return `"${domain}" is not a valid host (label "${first}")`;
  return dot === -1 ? undefined : dnsLabels(domain.slice(dot + 1));
}

/** Istio's labels.Instance.Validate: Kubernetes label keys (optional DNS prefix and `/`) and values. */
export function labelProblem(key: string, value: string): string | undefined {
  const m = LABEL_KEY.exec(key);
  if (!m || (m[1] !== undefined && m[1].length - 1 > 253) || m[2]!.length > 63) return `"${key}" is not a valid label key`;
  if (!LABEL_VALUE.test(value) || value.length > 63) return `"${value}" is not a valid label value`;
  return undefined;
}

/** Istio's ValidateIPSubnet: an IP address or a CIDR block. */
export function subnetProblem(s: string): string | undefined {
  const slash = s.indexOf('/');
  if (slash === -1) return isIP(s) ? undefined : `"${s}" is not an IP address or CIDR block`;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const max = isIP(ip) === 4 ? 32 : isIP(ip) === 6 ? 128 : 0;
  if (max === 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > max) return `"${s}" is not a valid CIDR block`;
  return undefined;
}

export const UNIX_PREFIX = 'unix://';

/** Istio's ValidateUnixAddress (after `unix://`): an abstract socket (`@name`) or an absolute path to a file. */
export function unixAddressProblem(path: string): string | undefined {
  if (path === '') return 'a unix address must not be empty';
  if (path.startsWith('@')) return undefined;
  if (!path.startsWith('/') || path.endsWith('/')) return `unix://${path} is not an absolute path to a file (or an @abstract socket)`;
  return undefined;
}
