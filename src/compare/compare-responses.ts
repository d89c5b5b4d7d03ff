// Compares two answers to one request: status, headers, then bodies by what they decode to.
import { type DecodedBody, decodeBody } from './decode.js';
import { diffGrpcBodies } from './grpc-messages.js';
import { diffHeaders } from './headers.js';
import { diffJson } from './json-diff.js';
import { clip, REDACTED, renderJson, renderTextPair } from './render.js';
import type { CompiledRules } from './rules.js';
import type { CapturedBody, CapturedResponse, FieldDiff } from './types.js';

/** No (complete) answer: nothing to compare but the fact. */
function noAnswer(r: CapturedResponse): boolean {
  return r.status === 0 || r.error !== undefined;
}

function describe(r: CapturedResponse): string {
  return r.error !== undefined ? clip(r.error) : r.status === 0 ? 'no answer' : String(r.status);
}

/**
 * The differences from `a` (the primary) to `b`, each field at most once (`path`, the request's path without
 * its query, picks a gRPC method's message types). When exactly one side has no
 * answer, that is the one difference (`no_answer` at `status`); when neither has, they agree.
 */
export function compareResponses(a: CapturedResponse, b: CapturedResponse, rules: CompiledRules, path = ''): FieldDiff[] {
  const na = noAnswer(a);
  const nb = noAnswer(b);
  if (na || nb) return na && nb ? [] : [{ field: 'status', kind: 'no_answer', left: describe(a), right: describe(b) }];
  const out = new Map<string, FieldDiff>();
  if (a.status !== b.status && !(rules.hasIgnoredFields && rules.isIgnoredField('status'))) {
    out.set('status', { field: 'status', kind: 'status_changed', left: String(a.status), right: String(b.status) });
  }
  diffHeaders(a.headers, b.headers, rules, out);
  if (!(rules.hasIgnoredFields && rules.isIgnoredField('body'))) diffBodies(a, b, rules, path, out);
  return [...out.values()];
}

function sameBytes(a: CapturedBody, b: CapturedBody): boolean {
  return a.bytes !== undefined && b.bytes !== undefined && Buffer.compare(a.bytes, b.bytes) === 0;
}

function encoding(r: CapturedResponse): string {
  const v = r.headers['content-encoding'];
  return (Array.isArray(v) ? v.join(',') : (v ?? '')).toLowerCase().replace(/\s+/g, '');
}

function describeBytes(body: CapturedBody): string {
  return `${body.size} bytes, sha256 ${body.sha256.slice(0, 12)}`;
}

function describeDecoded(d: DecodedBody, body: CapturedBody, rules: CompiledRules): string {
  switch (d.kind) {
    case 'json':
      return renderJson(d.value, 'body', rules);
    case 'text':
      return rules.hasRedactedFields && rules.isRedactedField('body') ? REDACTED : clip(d.text);
    default:
      return describeBytes(body);
  }
}

/** `path` (without the query) names the gRPC method whose message types decode the answers. */
function diffBodies(a: CapturedResponse, b: CapturedResponse, rules: CompiledRules, path: string, out: Map<string, FieldDiff>): void {
  // Identical wire bytes under the same encoding are the same body, whatever they decode to.
  if (sameBytes(a.body, b.body) && encoding(a) === encoding(b)) return;
  if (diffGrpcBodies(a, b, path, rules, out)) return;
  const da = decodeBody(a.body, a.headers);
  const db = decodeBody(b.body, b.headers);
  if (da.kind === 'truncated' || db.kind === 'truncated') {
    // Beyond the capture bound only size and hash exist (of the wire bytes: a change of compression shows too).
    if (a.body.size !== b.body.size || a.body.sha256 !== b.body.sha256) {
      out.set('body', { field: 'body', kind: 'size_or_hash_changed', left: describeBytes(a.body), right: describeBytes(b.body) });
    }
    return;
  }
  if (da.kind === 'json' && db.kind === 'json') {
    diffJson(da.value, db.value, 'body', rules, out);
    return;
  }
  if (da.kind === 'json' || db.kind === 'json') {
    out.set('body', { field: 'body', kind: 'type_changed', left: describeDecoded(da, a.body, rules), right: describeDecoded(db, b.body, rules) });
    return;
  }
  if (da.kind === 'text' && db.kind === 'text') {
    if (da.text === db.text) return;
    const redacted = rules.hasRedactedFields && rules.isRedactedField('body');
    const r = redacted ? { left: REDACTED, right: REDACTED } : renderTextPair(da.text, db.text);
    out.set('body', { field: 'body', kind: 'text_changed', ...r });
    return;
  }
  // Binary on at least one side, and the bytes differ (or decode differently): opaque, compared by hash.
  if (a.body.sha256 === b.body.sha256 && a.body.size === b.body.size && a.body.sha256 !== '') return;
  out.set('body', { field: 'body', kind: 'binary_changed', left: describeDecoded(da, a.body, rules), right: describeDecoded(db, b.body, rules) });
}
