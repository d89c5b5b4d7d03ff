// Compiles one Istio HTTPMatchRequest (RouteMatch) into a predicate over a request.

import type { HeaderCondition, RouteMatch } from '../config/model.js';
import { headerValue, type MatchInput } from './facts.js';
import { compileStringMatch, type StringTest } from './string-match.js';

export type MatchTest = (input: MatchInput) => boolean;
type Getter = (input: MatchInput) => string | undefined;

/**
 * Header names that Envoy keeps as pseudo-headers; Istio matches `authority`, `method` and
 * `scheme` through them, and users sometimes name them in `headers` too.
 */
function headerGetter(name: string): Getter {
  switch (name) {
    case ':authority':
    case 'host':
      return (i) => i.facts.authority;
    case ':method':
      return (i) => i.facts.method;
    case ':scheme':
      return (i) => i.facts.scheme;
    case ':path':
      return (i) => i.facts.path;
    default:
      return (i) => headerValue(i.facts.headers[name]);
  }
}

function valueTest(c: HeaderCondition): StringTest | undefined {
  return c.match.kind === 'present' ? undefined : compileStringMatch(c.match);
}

function headerCondition(c: HeaderCondition): MatchTest {
  const get = headerGetter(c.name.toLowerCase());
  const test = valueTest(c);
  if (test === undefined) return (i) => get(i) !== undefined;
  return (i) => {
    const v = get(i);
    return v !== undefined && test(v);
  };
}

/**
 * Istio emits each withoutHeaders entry as an Envoy header matcher with `invert_match`, and, for
 * value matches, `treat_missing_header_as_empty`. So a missing header is compared as "" (a missing
 * header therefore passes `exact: foo` but fails `exact: ""` or `regex: ".*"`), while `{}`
 * (present) passes exactly when the header is absent.
 */
function withoutHeaderCondition(c: HeaderCondition): MatchTest {
  const get = headerGetter(c.name.toLowerCase());
  const test = valueTest(c);
  if (test === undefined) return (i) => get(i) === undefined;
  return (i) => !test(get(i) ?? '');
}

function queryCondition(c: HeaderCondition): MatchTest {
  const name = c.name;
  const test = valueTest(c);
  if (test === undefined) return (i) => i.query.has(name);
  return (i) => {
    const v = i.query.get(name);
    return v !== undefined && test(v);
  };
}

/** Throws if a regex in the match is not valid RE2; the caller disables the route. */
export function compileRouteMatch(m: RouteMatch): MatchTest {
  // Cheapest checks first; all must hold.
  const tests: MatchTest[] = [];
  if (m.port !== undefined) {
    const port = m.port;
    tests.push((i) => i.facts.port === port);
  }
  if (m.method) {
    const t = compileStringMatch(m.method);
    tests.push((i) => t(i.facts.method));
  }
  if (m.uri) {
    // Envoy's path matchers see the path without query and fragment.
    const t = compileStringMatch(m.uri, m.ignoreUriCase);
    tests.push((i) => t(i.pathOnly));
  }
  if (m.authority) {
    const t = compileStringMatch(m.authority);
    tests.push((i) => t(i.facts.authority));
  }
  if (m.scheme) {
    const t = compileStringMatch(m.scheme);
    tests.push((i) => t(i.facts.scheme));
  }
  for (const c of m.headers) tests.push(headerCondition(c));
  for (const c of m.withoutHeaders) tests.push(withoutHeaderCondition(c));
  for (const c of m.queryParams) tests.push(queryCondition(c));

  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0]!;
  return (i) => {
    for (const t of tests) if (!t(i)) return false;
    return true;
  };
}
