// RE2 regexes (linear time, full-string semantics as Envoy's safe_regex) via re2js.

import { RE2JS } from 're2js';

export type Regex = RE2JS;

/** Compiles an RE2 pattern; throws with a readable message when it is not valid RE2. */
export function compileRegex(pattern: string, ignoreCase = false): Regex {
  try {
    return RE2JS.compile(pattern, ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`invalid RE2 regex ${JSON.stringify(pattern)}: ${why}`);
  }
}
