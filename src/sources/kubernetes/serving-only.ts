// Shadows go to ready endpoints only: the serving-but-terminating ones this source labels are for primaries.
import type { Cluster } from '../../config/index.js';
import { SERVING_ONLY_LABEL } from './translate.js';

/** The clusters without their serving-only endpoints (the same object when none has any). */
export function readyOnly(clusters: Record<string, Cluster>): Record<string, Cluster> {
  let changed = false;
  const out: Record<string, Cluster> = {};
  for (const [name, c] of Object.entries(clusters)) {
    const endpoints = c.endpoints.filter((e) => e.labels[SERVING_ONLY_LABEL] !== 'true');
    if (endpoints.length !== c.endpoints.length) changed = true;
    out[name] = endpoints.length === c.endpoints.length ? c : { ...c, endpoints };
  }
  return changed ? out : clusters;
}
