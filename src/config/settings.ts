// Shadowgate's own resource (kind ShadowgateConfig): the non-Istio knobs, so Istio resources stay exactly Istio's.
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { HEADER_NAME } from './common.js';
import { Fields, type Schema } from './fields.js';
import {
  type CompareSettings,
  DEFAULT_COMPARE_SETTINGS,
  DEFAULT_SETTINGS,
  type GrpcCompareSettings,
  type GrpcDescriptorSet,
  type ReadDescriptorSet,
  type Settings,
} from './model.js';
import type { RawResource } from './parse.js';
import type { ResourceContext } from './problems.js';

export const SETTINGS_API_GROUP = 'shadowgate.dev';
export const SETTINGS_KIND = 'ShadowgateConfig';

const SPEC: Schema = { name: 'ShadowgateConfig', fields: ['mirror', 'compare'] };
const COMPARE: Schema = {
  name: 'ShadowgateConfig.compare',
  fields: [
    'enabled',
    'queueSize',
    'maxPerSecond',
    'maxBodyBytes',
    'ignoreHeaders',
    'ignoreFields',
    'ignoreEndpoints',
    'redactHeaders',
    'redactFields',
    'unorderedArrays',
    'timeTolerance',
    'maxEndpointsPerRun',
    'maxFieldsPerEndpoint',
    'thresholds',
    'grpc',
  ],
};
const GRPC: Schema = { name: 'ShadowgateConfig.compare.grpc', fields: ['descriptorSets', 'reflection'] };
const THRESHOLDS: Schema = {
  name: 'ShadowgateConfig.compare.thresholds',
  fields: ['relative', 'absolute', 'maxRealDiffRate', 'maxErrorRateIncrease', 'maxP99LatencyIncrease', 'minP99LatencyIncreaseMs', 'minSample', 'confidence'],
};

function readCompare(c: Fields | undefined, file: string | undefined, read: ReadDescriptorSet | undefined): CompareSettings {
  const d = DEFAULT_COMPARE_SETTINGS;
  if (!c) return d;
  const t = c.object('thresholds', THRESHOLDS);
  const rate = (name: string, fallback: number) => {
    const v = t?.number(name);
    if (v === undefined) return fallback;
    if (v < 0 || v > 1) {
      c.ctx.error('out-of-range', t!.at(name), `${name} is a fraction from 0 to 1 (0.2 = 20%), not ${v}`);
      return fallback;
    }
    return v;
  };
  const dt = d.thresholds;
  return {
    enabled: c.bool('enabled') ?? d.enabled,
    queueSize: c.int('queueSize', 1) ?? d.queueSize,
    maxPerSecond: c.int('maxPerSecond', 1) ?? d.maxPerSecond,
    maxBodyBytes: c.int('maxBodyBytes', 0) ?? d.maxBodyBytes,
    ignoreHeaders: c.strings('ignoreHeaders').map((h) => h.toLowerCase()),
    ignoreFields: c.strings('ignoreFields'),
    ignoreEndpoints: c.strings('ignoreEndpoints'),
    redactHeaders: c.strings('redactHeaders').map((h) => h.toLowerCase()),
    redactFields: c.strings('redactFields'),
    unorderedArrays: c.strings('unorderedArrays'),
    timeToleranceMs: c.durationMs('timeTolerance') ?? d.timeToleranceMs,
    maxEndpointsPerRun: c.int('maxEndpointsPerRun', 1) ?? d.maxEndpointsPerRun,
    maxFieldsPerEndpoint: c.int('maxFieldsPerEndpoint', 1) ?? d.maxFieldsPerEndpoint,
    thresholds: {
      relative: t?.number('relative') ?? dt.relative,
      absolute: rate('absolute', dt.absolute),
      maxRealDiffRate: rate('maxRealDiffRate', dt.maxRealDiffRate),
      maxErrorRateIncrease: rate('maxErrorRateIncrease', dt.maxErrorRateIncrease),
      maxP99LatencyIncrease: t?.number('maxP99LatencyIncrease') ?? dt.maxP99LatencyIncrease,
      minP99LatencyIncreaseMs: t?.number('minP99LatencyIncreaseMs') ?? dt.minP99LatencyIncreaseMs,
      minSample: t?.int('minSample', 1) ?? dt.minSample,
      confidence: confidence(t, dt.confidence),
    },
    grpc: readGrpc(c.object('grpc', GRPC), file, read),
  };
}

/**
 * `compare.grpc.descriptorSets`: files as `protoc --descriptor_set_out` writes them, relative to the config file
 * that names them (to the working directory for a resource from the cluster). Each is read and checked now, so
 * a bad one is a config error at load (a reload with it is refused) and never a surprise in the comparison.
 * Without a reader (a pure load for the verdict's thresholds) the sets are left out: nothing decodes there.
 */
function readGrpc(g: Fields | undefined, file: string | undefined, read: ReadDescriptorSet | undefined): GrpcCompareSettings {
  if (!g) return DEFAULT_COMPARE_SETTINGS.grpc;
  const descriptorSets: GrpcDescriptorSet[] = [];
  const listed = g.strings('descriptorSets');
  const raw = g.raw('descriptorSets');
  listed.forEach((name) => {
    const at = [...g.at('descriptorSets'), Array.isArray(raw) ? raw.indexOf(name) : 0];
    if (name.trim() === '') {
      g.ctx.error('invalid-value', at, 'a descriptor set is a file name, not an empty string');
      return;
    }
    if (!read) return;
    const path = file === undefined ? name : resolve(dirname(file), name);
    const got = read(path);
    if ('error' in got) {
      g.ctx.error('invalid-descriptor-set', at, `${path}: ${got.error}`);
      return;
    }
    const data = Buffer.from(got.bytes.buffer, got.bytes.byteOffset, got.bytes.byteLength);
    descriptorSets.push({ file: path, sha256: createHash('sha256').update(data).digest('hex'), data: data.toString('base64') });
  });
  return { descriptorSets, reflection: g.bool('reflection') ?? DEFAULT_COMPARE_SETTINGS.grpc.reflection };
}
/** One-sided confidence of the verdict's intervals: 0.5 would judge on point estimates, 1 never decides. */
function confidence(t: Fields | undefined, fallback: number): number {
  const v = t?.number('confidence');
  if (v === undefined) return fallback;
  if (!(v >= 0.5 && v < 1)) {
    t!.ctx.error('out-of-range', t!.at('confidence'), `confidence is a probability from 0.5 to below 1 (0.95 = 95%), not ${v}`);
    return fallback;
  }
  return v;
}

const MIRROR: Schema = {
  name: 'ShadowgateConfig.mirror',
  fields: ['timeout', 'maxBodyBytes', 'maxTotalBodyBytes', 'maxInFlight', 'hostSuffix', 'markerHeader'],
};

export function readSettings(res: RawResource, ctx: ResourceContext, readDescriptorSet?: ReadDescriptorSet): Settings {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], SPEC);
  const m = spec.object('mirror', MIRROR);
  const d = DEFAULT_SETTINGS.mirror;
  const marker = m?.string('markerHeader');
  if (marker && !HEADER_NAME.test(marker)) ctx.error('invalid-header-name', m!.at('markerHeader'), `"${marker}" is not a valid header name`);
  return {
    compare: readCompare(spec.object('compare', COMPARE), res.file, readDescriptorSet),
    mirror: {
      timeoutMs: m?.durationMs('timeout') ?? d.timeoutMs,
      maxBodyBytes: m?.int('maxBodyBytes', 0) ?? d.maxBodyBytes,
      maxTotalBodyBytes: m?.int('maxTotalBodyBytes', 0) ?? d.maxTotalBodyBytes,
      maxInFlight: m?.int('maxInFlight', 0) ?? d.maxInFlight,
      hostSuffix: m?.bool('hostSuffix') ?? d.hostSuffix,
      markerHeader: (marker ?? d.markerHeader).toLowerCase(),
    },
  };
}
