// ShadowgateConfig from the cluster (issue 20): a ConfigMap key and ShadowgateConfig objects, watched on the
// API-server double; a change reloads as a file change does, a bad version is refused and reported (problem,
// log line, gauge, Event) while the last good one keeps serving, and other changes keep flowing meanwhile.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEFAULT_COMPARE_SETTINGS } from '../src/config/index.js';
import { client } from './harness/gateway.js';
import { FakeKubeApiServer, type KObject } from './harness/kube-apiserver.js';
import { kubeGateway, LogLines, serviceWithPod } from './harness/kube-cluster.js';

after(() => client.close());

const NS = 'default';
const CRD_KIND = { group: 'shadowgate.dev', versions: ['v1alpha1'], kind: 'ShadowgateConfig', plural: 'shadowgateconfigs' };

function configMap(text: string, name = 'shadowgate', key = 'config.yaml'): KObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS }, data: { [key]: text } };
}

const settingsYaml = (rate: number, extra = '') => `apiVersion: shadowgate.dev/v1alpha1
kind: ShadowgateConfig
spec:
  mirror:
    timeout: 2s
  compare:
    thresholds:
      maxRealDiffRate: ${rate}
${extra}`;

async function metric(admin: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('ShadowgateConfig from the cluster', { timeout: 120_000 }, () => {
  it('a ConfigMap key: read at start, a change reloads, a bad version keeps the last good one serving and is reported, a deletion restores the defaults', async () => {
    const api = await FakeKubeApiServer.start({ extraKinds: [CRD_KIND] });
    api.apply(configMap(settingsYaml(0.05)));
    // Another ConfigMap with the same key: never read (the watch asks for one name).
    api.apply(configMap(settingsYaml(0.9), 'unrelated'));
    const logs = new LogLines();
    const gw = await kubeGateway(api, NS, { log: logs.log, kubernetes: { configMap: {} } });
    const thresholds = () => gw.snapshot.settings.compare.thresholds;
    const applied = (from: number) => logs.until(/^shadowgate: config \w+ applied/, from);
    try {
      assert.equal(gw.isReady(), true);
      assert.equal(thresholds().maxRealDiffRate, 0.05);
      assert.equal(gw.snapshot.settings.mirror.timeoutMs, 2_000);
      const cmRequests = api.requests.filter((r) => r.kind === 'ConfigMap');
      assert.ok(cmRequests.length >= 2, 'listed and watched');
      for (const r of cmRequests) {
        assert.equal(r.path, `/api/v1/namespaces/${NS}/configmaps`);
        assert.equal(r.query.get('fieldSelector'), 'metadata.name=shadowgate');
      }
      assert.match(logs.lines.join('\n'), /settings from ConfigMap default\/shadowgate key config\.yaml/);

      // kubectl apply a new threshold: reloaded as a file change is.
      let mark = logs.lines.length;
      api.apply(configMap(settingsYaml(0.1)));
      await applied(mark);
      assert.equal(thresholds().maxRealDiffRate, 0.1);
      assert.equal(await metric(gw.adminAddress, 'shadowgate_kubernetes_settings_rejected'), 0);

      // A version with an error: refused, the last good one serves, reported as problem, log line, gauge and Event.
      mark = logs.lines.length;
      api.apply(configMap(settingsYaml(0.2).replace('maxRealDiffRate: 0.2', 'maxRealDiffRate: 0.2\n      confidence: 2')));
      const refused = await logs.until(/ShadowgateConfig refused/, mark);
      assert.match(
        refused,
        /^kubernetes: ConfigMap default\/shadowgate: ShadowgateConfig refused \(spec\.compare\.thresholds\.confidence: confidence is a probability/,
      );
      assert.match(refused, /the last good version keeps serving$/);
      await gw.reload({ trigger: 'kubernetes' });
      assert.equal(thresholds().maxRealDiffRate, 0.1, 'the last good version serves');
      const problems = gw.snapshot.problems.filter((p) => p.file?.startsWith('kubernetes://ConfigMap/'));
      assert.deepEqual(
        problems.map((p) => [p.severity, p.code, p.file, p.line]),
        [
          ['error', 'out-of-range', 'kubernetes://ConfigMap/default/shadowgate#config.yaml', 9],
          ['error', 'settings-rejected', 'kubernetes://ConfigMap/default/shadowgate', undefined],
        ],
      );
      assert.equal(await metric(gw.adminAddress, 'shadowgate_kubernetes_settings_rejected'), 1);
      assert.equal(await metric(gw.adminAddress, 'shadowgate_config_problems{severity="error"}'), 2);
      const event = await api.until(() => api.events.find((e) => e.reason === 'ShadowgateConfigRejected'));
      assert.deepEqual(event.involvedObject, { apiVersion: 'v1', kind: 'ConfigMap', namespace: NS, name: 'shadowgate' });
      assert.equal(event.type, 'Warning');
      assert.match(String(event.message), /refused \(1 error, first: spec\.compare\.thresholds\.confidence: .*the last good version keeps serving/);

      // Other changes of the cluster keep reaching traffic while the settings are refused.
      mark = logs.lines.length;
      for (const o of serviceWithPod(NS, 'extra', { app: 'extra' }, '127.0.0.5', 8080)) api.apply(o);
      await applied(mark);
      assert.ok(gw.snapshot.resources.some((r) => r.kind === 'ServiceEntry' && r.name === 'service:extra'));
      assert.equal(thresholds().maxRealDiffRate, 0.1);

      // Not YAML at all, then not a ShadowgateConfig, then no key, then too large: refused alike.
      for (const [data, why] of [
        [{ 'config.yaml': 'spec: [unclosed' }, /ShadowgateConfig refused \(.*\); the last good version keeps serving/],
        [{ 'config.yaml': 'apiVersion: v1\nkind: Service\nmetadata: {name: x}\n' }, /Service \(v1\) is not read from the ConfigMap/],
        [{ 'other.yaml': settingsYaml(0.3) }, /data\.config\.yaml: has no key config\.yaml \(keys: other\.yaml\)/],
        // Larger than the API server would ever store in a ConfigMap: not parsed at all.
        [{ 'config.yaml': `# ${'x'.repeat(1024 * 1024)}\n${settingsYaml(0.3)}` }, /is larger than a ConfigMap may be \(1048576 bytes\): not read/],
      ] as const) {
        mark = logs.lines.length;
        api.apply({ ...configMap(''), data });
        assert.match(await logs.until(/ShadowgateConfig refused/, mark), why);
        await gw.reload({ trigger: 'kubernetes' });
        assert.equal(thresholds().maxRealDiffRate, 0.1);
      }

      // Fixed: applied, the gauge back to 0.
      mark = logs.lines.length;
      api.apply(configMap(settingsYaml(0.2)));
      await applied(mark);
      assert.equal(thresholds().maxRealDiffRate, 0.2);
      assert.equal(await metric(gw.adminAddress, 'shadowgate_kubernetes_settings_rejected'), 0);
      assert.deepEqual(
        gw.snapshot.problems.filter((p) => p.severity === 'error'),
        [],
      );

      // Deleted: the defaults again, as when a file is removed.
      mark = logs.lines.length;
      api.delete('ConfigMap', NS, 'shadowgate');
      await applied(mark);
      assert.equal(thresholds().maxRealDiffRate, DEFAULT_COMPARE_SETTINGS.thresholds.maxRealDiffRate);
    } finally {
      await gw.shutdown();
      await api.close();
    }
  });

  it('a ShadowgateConfig object (the CRD): read and watched; a bad version keeps the last good one; --config-map in another namespace', async () => {
    const api = await FakeKubeApiServer.start({ extraKinds: [CRD_KIND] });
    const object = (rate: number, confidence?: number): KObject => ({
      apiVersion: 'shadowgate.dev/v1alpha1',
      kind: 'ShadowgateConfig',
      metadata: { name: 'thresholds', namespace: NS },
      spec: { compare: { thresholds: { maxRealDiffRate: rate, ...(confidence === undefined ? {} : { confidence }) } } },
    });
    api.apply(object(0.3));
    api.apply({ ...configMap(settingsYaml(0.05), 'settings'), metadata: { name: 'settings', namespace: 'ops' } });
    const logs = new LogLines();
    const gw = await kubeGateway(api, NS, { log: logs.log, kubernetes: { configMap: { namespace: 'ops', name: 'settings' } } });
    const rate = () => gw.snapshot.settings.compare.thresholds.maxRealDiffRate;
    try {
      // The ConfigMap comes before the objects: it is the one used, the object is a duplicate (warned).
      assert.equal(rate(), 0.05);
      assert.ok(api.requests.some((r) => r.kind === 'ConfigMap' && r.path === '/api/v1/namespaces/ops/configmaps'));
      assert.ok(gw.snapshot.problems.some((p) => p.code === 'duplicate-settings'));
      let mark = logs.lines.length;
      api.delete('ConfigMap', 'ops', 'settings');
      await logs.until(/^shadowgate: config \w+ applied/, mark);
      assert.equal(rate(), 0.3);

      mark = logs.lines.length;
      api.apply(object(0.4, 7));
      assert.match(
        await logs.until(/ShadowgateConfig refused/, mark),
        /^kubernetes: ShadowgateConfig default\/thresholds: ShadowgateConfig refused \(spec\.compare\.thresholds\.confidence: .*\); the last good version keeps serving$/,
      );
      await gw.reload({ trigger: 'kubernetes' });
      assert.equal(rate(), 0.3);
      const event = await api.until(() => api.events.find((e) => e.reason === 'ShadowgateConfigRejected'));
      assert.deepEqual(event.involvedObject, { apiVersion: 'shadowgate.dev/v1alpha1', kind: 'ShadowgateConfig', namespace: NS, name: 'thresholds' });

      mark = logs.lines.length;
      api.apply(object(0.4));
      await logs.until(/^shadowgate: config \w+ applied/, mark);
      assert.equal(rate(), 0.4);
    } finally {
      await gw.shutdown();
      await api.close();
    }
  });

  it('a Role without the ConfigMap (403) does not hold readiness back: one log line, the other settings serve', async () => {
    const api = await FakeKubeApiServer.start();
    api.failNext(100_000, 403, { kind: 'ConfigMap' });
    const logs = new LogLines();
    const gw = await kubeGateway(api, NS, { log: logs.log, kubernetes: { configMap: {} } });
    try {
      assert.equal(gw.isReady(), true);
      assert.deepEqual(
        logs.lines.filter((l) => l.includes('ConfigMap')).map((l) => l.replace(/every \d+ s/, 'every N s')),
        [
          'kubernetes: watching namespace default on ' +
            `${api.url}/` +
            ' (kubeconfig: the given KubeConfig); settings from ConfigMap default/shadowgate key config.yaml',
          'kubernetes: ConfigMap (v1): not allowed to read ConfigMap (403); treated as not served, looking again every N s',
        ],
      );
      assert.equal(gw.snapshot.settings.compare.thresholds.maxRealDiffRate, DEFAULT_COMPARE_SETTINGS.thresholds.maxRealDiffRate);
    } finally {
      await gw.shutdown();
      await api.close();
    }
  });
});
