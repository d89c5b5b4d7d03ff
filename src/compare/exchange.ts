// One mirrored request compared: primary vs candidate (the change), primary vs secondary (the noise).
import { compareResponses } from './compare-responses.js';
import { endpointKey, pathOnly } from './endpoint.js';
import type { CompiledRules } from './rules.js';
import { buildSample } from './sample.js';
import { isUncounted } from './time-like.js';
import type { CapturedResponse, ComparisonResult, Exchange } from './types.js';

function brief(r: CapturedResponse): { status: number; latencyMs: number; error?: string } {
  return r.error === undefined ? { status: r.status, latencyMs: r.latencyMs } : { status: r.status, latencyMs: r.latencyMs, error: r.error };
}

/**
 * Copies Shadowgate gave up on by its own bounds (mirror/shadow-writer.ts): they say nothing about the
 * candidate, so they are not compared. A timeout, a refused connection or a reset is the candidate's doing and
 * counts as its error.
 */
const OWN_GIVE_UPS = new Set(['abandoned:too_many_in_flight', 'abandoned:body_too_large', 'abandoned:buffer_full', 'abandoned:primary_aborted']);

/**
 * Undefined when there is no candidate answer (or only one of Shadowgate's own give-ups), or the endpoint is ignored (by its folded or its literal path,
 * as `route METHOD /path`). An exchange that differs keeps its whole redacted self as a sample candidate.
 */
export function compareExchange(ex: Exchange, rules: CompiledRules): ComparisonResult | undefined {
  if (ex.candidate === undefined || (ex.candidate.error !== undefined && OWN_GIVE_UPS.has(ex.candidate.error))) return undefined;
  const endpoint = endpointKey(ex.method, ex.path);
  const method = ex.method.toUpperCase();
  if (rules.isIgnoredEndpoint(`${ex.route} ${endpoint}`) || rules.isIgnoredEndpoint(`${ex.route} ${method} ${pathOnly(ex.path)}`)) {
    return undefined;
  }
  const path = pathOnly(ex.path);
  const candidateDiffs = compareResponses(ex.primary, ex.candidate, rules, path);
  const result: ComparisonResult = {
    at: ex.at,
    endpoint,
    requestId: ex.requestId,
    primary: brief(ex.primary),
    candidate: brief(ex.candidate),
    candidateDiffs,
  };
  if (ex.run) result.run = ex.run;
  if (ex.secondary !== undefined && !(ex.secondary.error !== undefined && OWN_GIVE_UPS.has(ex.secondary.error))) {
    result.secondary = brief(ex.secondary);
    result.secondaryDiffs = compareResponses(ex.primary, ex.secondary, rules, path);
  }
  if (candidateDiffs.some((d) => !isUncounted(d.kind))) result.sample = { id: '', endpointId: '', ...buildSample(ex, candidateDiffs, rules) };
  return result;
}
