// Benchmark: load a config file of 1,000 VirtualServices (and their ServiceEntries and DestinationRules).
import { loadSnapshot } from '../src/config/index.js';
import { RouteTable } from '../src/routing/index.js';

function bigConfig(n: number): string {
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-${i}}
spec:
  hosts: [svc-${i}]
  ports: [{number: 8000, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: 9001}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: 9002}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${i}}
spec:
  host: svc-${i}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-${i}}
spec:
  hosts: [svc-${i}]
  http:
  - match: [{uri: {regex: "/api/v[0-9]+/items/.*"}, headers: {x-user: {prefix: beta-}}}]
    route: [{destination: {host: svc-${i}, subset: v2}}]
  - route:
    - {destination: {host: svc-${i}, subset: v1}, weight: 90}
    - {destination: {host: svc-${i}, subset: v2}, weight: 10}
    mirror: {host: svc-${i}, subset: v2}
    mirrorPercentage: {value: 25}`);
  }
  return docs.join('\n---\n');
}

export function benchConfigLoad(): { name: string; ms: number; detail: string }[] {
  const text = bigConfig(1_000);
  const runs: number[] = [];
  let routes = 0;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const snapshot = loadSnapshot([{ path: 'big.yaml', text }]);
    const table = RouteTable.build(snapshot.listeners);
    runs.push(performance.now() - t);
    routes = snapshot.listeners.reduce((n, l) => n + l.virtualHosts.reduce((m, v) => m + v.routes.length, 0), 0);
    if (snapshot.problems.some((p) => p.severity === 'error')) throw new Error('bench config has errors');
    void table;
  }
  runs.sort((a, b) => a - b);
  return [
    {
      name: 'load 1,000 VirtualServices (+1,000 ServiceEntries, DestinationRules) and compile the route table',
      ms: runs[2]!,
      detail: `${(text.length / 1024).toFixed(0)} KiB of YAML, ${routes} routes; median of 5`,
    },
  ];
}
