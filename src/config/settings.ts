// Shadowgate's own resource (kind ShadowgateConfig): the non-Istio knobs, so Istio resources stay exactly Istio's.
import { Fields, type Schema } from './fields.js';
import { DEFAULT_SETTINGS, type Settings } from './model.js';
import type { RawResource } from './parse.js';
import type { ResourceContext } from './problems.js';

export const SETTINGS_API_GROUP = 'shadowgate.dev';
export const SETTINGS_KIND = 'ShadowgateConfig';

const SPEC: Schema = { name: 'ShadowgateConfig', fields: ['mirror'] };
const MIRROR: Schema = {
  name: 'ShadowgateConfig.mirror',
  fields: ['timeout', 'maxBodyBytes', 'maxTotalBodyBytes', 'maxInFlight', 'hostSuffix', 'markerHeader'],
};

export function readSettings(res: RawResource, ctx: ResourceContext): Settings {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], SPEC);
  const m = spec.object('mirror', MIRROR);
  const d = DEFAULT_SETTINGS.mirror;
  const marker = m?.string('markerHeader');
  if (marker && !/^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/.test(marker)) ctx.error('invalid-header-name', m!.at('markerHeader'), `"${marker}" is not a valid header name`);
  return {
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
