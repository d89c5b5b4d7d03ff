// Test harness: config files for the hardening tests (an alias bomb, many resources, a VirtualService per subset).

/** 911 bytes in the report; this one is smaller: 9^11 resources if aliases were expanded without a bound. */
export function aliasBomb(): string {
  let y = 'apiVersion: v1\nkind: List\nx0: &a0 [{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: a}}]\n';
  for (let i = 1; i < 12; i++)
    y += `x${i}: &a${i} [${Array(9)
      .fill(`*a${i - 1}`)
      .join(',')}]\n`;
  return `${y}items: *a11\n`;
}

/** `n` × (ServiceEntry, DestinationRule, VirtualService), all on `port`: 3n resources. */
export function manyResources(n: number, port: number, upstreamPort: number): string {
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-${i}}
spec:
  hosts: [svc-${i}]
  ports: [{number: ${port}, name: http}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${upstreamPort}}, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${i}}
spec: {host: svc-${i}, subsets: [{name: v1, labels: {version: v1}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-${i}}
spec:
  hosts: [svc-${i}]
  http: [{route: [{destination: {host: svc-${i}, subset: v1}}]}]`);
  }
  return docs.join('\n---\n');
}

export function vsTo(subset: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: [app]
  http:
  - route:
    - destination: {host: app, subset: ${subset}}
`;
}
