// What starts a run (comparator/runs.ts): the fingerprints of the candidate's and the primary's endpoints
// (addresses, ports, every label) and of the route's mirror config, read off a config snapshot.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runIdentities } from '../src/comparator/index.js';
import { loadSnapshot } from '../src/config/index.js';

function yaml(o: { v2Port?: number; v2Hash?: string; v2Weight?: number; percent?: number; v1Port?: number; routeName?: string }): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api]
  ports: [{number: 8080, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, ports: {http: ${o.v1Port ?? 80}}, labels: {version: v1, pod-template-hash: aaa}}
  - {address: 10.0.0.2, ports: {http: ${o.v2Port ?? 80}}, weight: ${o.v2Weight ?? 1}, labels: {version: v2, pod-template-hash: ${o.v2Hash ?? 'bbb'}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec:
  host: api
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: shop}
spec:
  hosts: [api]
  http:
  - ${o.routeName ? `name: ${o.routeName}\n    ` : ''}route: [{destination: {host: api, subset: v1}}]
    mirror: {host: api, subset: v2}
    mirrorPercentage: {value: ${o.percent ?? 100}}
  - match: [{uri: {prefix: /other}}]
    route: [{destination: {host: api, subset: v1}}]
`;
}

const identity = (o: Parameters<typeof yaml>[0] = {}) => {
  const ids = runIdentities(loadSnapshot([{ path: 'api.yaml', text: yaml(o) }]));
  assert.equal(ids.length, 1, 'one route mirrors to a candidate');
  return ids[0]!;
};

describe('runIdentities', () => {
  it('names the route as <namespace/name>#<name or index>, the candidate and the primary', () => {
    const id = identity();
    assert.equal(id.route, 'shop/api#0');
    assert.equal(identity({ routeName: 'items' }).route, 'shop/api#items');
    assert.equal(id.candidate.subset, 'v2');
    assert.equal(id.primary.subset, 'v1');
    assert.equal(id.candidate.host, 'api.shop.svc.cluster.local');
  });

  it('a new ReplicaSet (pod-template-hash), a new port or a new percentage change the fingerprint; an endpoint weight does not', () => {
    const base = identity();
    assert.deepEqual(identity(), base, 'deterministic');
    const rs = identity({ v2Hash: 'ccc' });
    assert.notEqual(rs.candidate.fingerprint, base.candidate.fingerprint);
    assert.equal(rs.primary.fingerprint, base.primary.fingerprint);
    assert.notEqual(rs.fingerprint, base.fingerprint);
    assert.notEqual(identity({ v1Port: 81 }).primary.fingerprint, base.primary.fingerprint);
    const pct = identity({ percent: 50 });
    assert.notEqual(pct.mirrorFingerprint, base.mirrorFingerprint);
    assert.equal(pct.candidate.fingerprint, base.candidate.fingerprint);
    assert.equal(identity({ v2Weight: 5 }).fingerprint, base.fingerprint);
  });
});

describe('a run never mixes two candidates', () => {
  it('the candidate is the first mirror away from the primary that can fire; a 0% mirror is not', () => {
    const text = yaml({}).replace(
      '    mirror: {host: api, subset: v2}\n    mirrorPercentage: {value: 100}',
      '    mirrors:\n    - {destination: {host: api, subset: v2}, percentage: {value: 0}}\n    - {destination: {host: api, subset: v1}}\n    - {destination: {host: api, subset: v3}}',
    );
    const ids = runIdentities(
      loadSnapshot([
        { path: 'api.yaml', text: text.replace('{name: v2, labels: {version: v2}}', '{name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}') },
      ]),
    );
    assert.equal(ids.length, 1);
    assert.equal(ids[0]!.candidate.subset, 'v3');
  });
});
