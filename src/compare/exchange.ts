// One mirrored request compared: primary vs candidate (the change), primary vs secondary (the noise).
import { compareResponses } from './compare-responses.js';
import { endpointKey, pathOnly } from './endpoint.js';
import type { CompiledRules } from './rules.js';
import type { CapturedResponse, ComparisonResult, Exchange } from './types.js';

function brief(r: CapturedResponse): { status: number; latencyMs: number; error?: string } {
  return r.error === undefined ? { status: r.status, latencyMs: r.latencyMs } : { status: r.status, latencyMs: r.latencyMs, error: r.error };
}

/** Undefined when there is no candidate answer or the endpoint is ignored (by its folded or its literal path). */
export function compareExchange(ex: Exchange, rules: CompiledRules): ComparisonResult | undefined {
  if (ex.candidate === undefined) return undefined;
  const endpoint = endpointKey(ex.route, ex.method, ex.path);
  if (rules.isIgnoredEndpoint(endpoint) || rules.isIgnoredEndpoint(`${ex.route} ${ex.method.toUpperCase()} ${pathOnly(ex.path)}`)) {
    return undefined;
  }
  const result: ComparisonResult = {
    at: ex.at,
    endpoint,
    requestId: ex.requestId,
    primary: brief(ex.primary),
    candidate: brief(ex.candidate),
    candidateDiffs: compareResponses(ex.primary, ex.candidate, rules),
  };
  if (ex.secondary !== undefined) {
    result.secondary = brief(ex.secondary);
    result.secondaryDiffs = compareResponses(ex.primary, ex.secondary, rules);
  }
  return result;
}
