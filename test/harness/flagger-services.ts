// Test harness: a service laid out as Flagger's Istio router lays it out, in files: the apex host routing to
// `<name>-primary`, mirrored to `<name>-canary` (the candidate) and to `<name>-primary` again (the noise baseline, Diffy's secondary).
/** `name`'s ServiceEntries, WorkloadEntries and VirtualService; one port per service, every upstream on 127.0.0.1. */
export function flaggerServiceYaml(name: string, port: number, primary: number, canary: number): string {
  const se = (host: string, selector?: string) => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host}}
spec:
  hosts: [${host}]
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
${selector ? `  workloadSelector: {labels: {app: ${selector}}}\n` : ''}`;
  const we = (wname: string, upstream: number) => `---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${wname}}
spec:
  address: 127.0.0.1
  ports: {http: ${upstream}}
  labels: {app: ${wname}}
`;
  return `${se(name)}${se(`${name}-primary`, `${name}-primary`)}${se(`${name}-canary`, `${name}-canary`)}${we(`${name}-primary`, primary)}${we(`${name}-canary`, canary)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}}
spec:
  hosts: [${name}]
  http:
  - name: all
    route: [{destination: {host: ${name}-primary}}]
    mirrors:
    - destination: {host: ${name}-canary}
    - destination: {host: ${name}-primary}
`;
}

/** Comparison on, every exchange compared (the default sampling would make counts depend on the machine's speed). */
export const COMPARE_EVERY_EXCHANGE = `---
apiVersion: shadowgate.dev/v1alpha1
kind: ShadowgateConfig
metadata: {name: shadowgate}
spec:
  compare:
    maxPerSecond: 100000
`;
