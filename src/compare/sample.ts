// A whole exchange as a sample: the request and every answer, decoded, redacted and bounded before it is stored.
import type { DescMessage } from '@bufbuild/protobuf';
import { decodeBody } from './decode.js';
import { pathOnly } from './endpoint.js';
import { grpcBodyJson } from './grpc-messages.js';
import { REDACTED, redactForm, redactHeaders, redactJson, redactText } from './redaction.js';
import type { Message, SampleDoc } from './report.js';
import type { CompiledRules } from './rules.js';
import type { CapturedBody, CapturedResponse, Exchange, FieldDiff } from './types.js';

/** Characters of one body kept in a sample; beyond it the body is cut and marked truncated. */
export const MAX_SAMPLE_BODY_CHARS = 16 * 1024;
/** Differences listed per sample (the fields to highlight). */
const MAX_SAMPLE_DIFFS = 50;

type Body = Pick<Message, 'body' | 'bodyTruncated' | 'bodyEncoding'>;

function cut(text: string, truncated: boolean): Body {
  return text.length > MAX_SAMPLE_BODY_CHARS
    ? { body: text.slice(0, MAX_SAMPLE_BODY_CHARS), bodyTruncated: true, bodyEncoding: 'utf8' }
    : { body: text, bodyTruncated: truncated, bodyEncoding: 'utf8' };
}

/**
 * A body as a sample keeps it: JSON redacted by path (secrets at any depth), forms by parameter name, other
 * text by `key=value` scrubbing. Binary bodies and bodies beyond the capture bound keep nothing but the fact
 * (their size and hash are in the diffs): bytes nobody can read cannot be checked for secrets.
 */
function sampleBody(
  body: CapturedBody | undefined,
  headers: Record<string, string | string[] | undefined>,
  rules: CompiledRules,
  grpcType?: DescMessage | undefined,
): Body {
  if (body === undefined || body.size === 0) return { body: '', bodyTruncated: false, bodyEncoding: 'utf8' };
  if (rules.isRedactedField('body')) return { body: REDACTED, bodyTruncated: false, bodyEncoding: 'utf8' };
  // A gRPC body whose messages a descriptor set describes: their JSON, redacted at the paths the diffs use.
  const grpc = grpcType && body.bytes && !body.truncated ? grpcBodyJson(body.bytes, headers, grpcType, rules.grpc!) : undefined;
  if (grpc !== undefined) return cut(JSON.stringify(redactJson(grpc, 'body', rules)), false);
  const d = decodeBody(body, headers);
  switch (d.kind) {
    case 'json':
      return cut(JSON.stringify(redactJson(d.value, 'body', rules)), false);
    case 'text': {
      const type = String(headers['content-type'] ?? '').toLowerCase();
      return cut(type.startsWith('application/x-www-form-urlencoded') ? redactForm(d.text, 'body', rules) : redactText(d.text), false);
    }
    default:
      return { body: '', bodyTruncated: true, bodyEncoding: 'base64' };
  }
}

function message(r: CapturedResponse, rules: CompiledRules, grpcType: DescMessage | undefined): Message {
  const m: Message = {
    status: r.status,
    headers: redactHeaders(r.headers, rules),
    ...sampleBody(r.body, r.headers, rules, grpcType),
    latencyMs: Math.round(r.latencyMs * 100) / 100,
  };
  if (r.error !== undefined) m.error = r.error;
  return m;
}

/** The sample of one exchange, without the ids the store gives it. */
export function buildSample(ex: Exchange, diffs: readonly FieldDiff[], rules: CompiledRules): Omit<SampleDoc, 'id' | 'endpointId'> {
  const q = ex.path.indexOf('?');
  const query = q < 0 ? '' : ex.path.slice(q + 1);
  const headers = ex.requestHeaders ?? {};
  const method = rules.grpc?.method(pathOnly(ex.path));
  const doc: Omit<SampleDoc, 'id' | 'endpointId'> = {
    at: new Date(ex.at).toISOString(),
    requestId: ex.requestId,
    request: {
      method: ex.method,
      path: pathOnly(ex.path),
      query: redactForm(query, 'query', rules),
      headers: redactHeaders(headers, rules),
      ...sampleBody(ex.requestBody, headers, rules, method?.input),
    },
    primary: message(ex.primary, rules, method?.output),
    diffs: diffs.slice(0, MAX_SAMPLE_DIFFS).map((d) => {
      const x: SampleDoc['diffs'][number] = { field: d.field, kind: d.kind };
      if (d.left !== undefined) x.primary = d.left;
      if (d.right !== undefined) x.candidate = d.right;
      return x;
    }),
  };
  if (ex.candidate) doc.candidate = message(ex.candidate, rules, method?.output);
  if (ex.secondary) doc.secondary = message(ex.secondary, rules, method?.output);
  return doc;
}
