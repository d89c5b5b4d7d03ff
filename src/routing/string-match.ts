// Compiles Istio StringMatch / ValueMatch conditions into predicates, once per snapshot.

import type { StringMatch } from '../config/model.js';
import { asciiLower } from './facts.js';
import { segmentPrefixTest } from './path-prefix.js';
import { compileRegex } from './regex.js';

export type StringTest = (value: string) => boolean;

/**
 * `ignoreCase` is only used for `uri` with `ignoreUriCase`, and (as in Envoy, whose route
 * `case_sensitive` is "ignored for safe_regex matching") it only affects exact and prefix.
 */
export function compileStringMatch(m: StringMatch, ignoreCase = false): StringTest {
  switch (m.kind) {
    case 'exact': {
      if (!ignoreCase) {
        const lit = m.value;
        return (v) => v === lit;
      }
      const lit = asciiLower(m.value);
      return (v) => v.length === lit.length && asciiLower(v) === lit;
    }
    case 'prefix': {
      if (m.segments) return segmentPrefixTest(m.value);
      if (!ignoreCase) {
        const lit = m.value;
        return (v) => v.startsWith(lit);
      }
      const lit = asciiLower(m.value);
      const n = lit.length;
      return (v) => v.length >= n && asciiLower(v.slice(0, n)) === lit;
    }
    case 'regex': {
      const re = compileRegex(m.value);
      return (v) => re.matches(v);
    }
  }
}
