// gRPC over HTTP/2 as a proxy sees it: which requests are gRPC, where their status is, what a local failure says.

/** gRPC status codes the proxy names (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Envoy's test (Grpc::Common::hasGrpcContentType): `application/grpc` or `application/grpc+<codec>`; gRPC-Web is not. */
export function isGrpc(contentType: string | string[] | undefined): boolean {
  const ct = Array.isArray(contentType) ? contentType[0] : contentType;
  if (!ct?.startsWith('application/grpc')) return false;
  const next = ct.charCodeAt(16);
  return Number.isNaN(next) || next === 43 /* + */ || next === 59 /* ; */;
}

/**
 * The gRPC status for an HTTP status, as gRPC's http-grpc-status-mapping and Envoy's
 * Grpc::Utility::httpToGrpcStatus define it: used for local replies to gRPC requests.
 */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

type Headers = Record<string, string | string[] | undefined>;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** `grpc-status` and `grpc-message` from trailers, or from the headers of a trailers-only answer. */
export function grpcOutcome(headers: Headers | undefined, trailers: Headers | undefined): { status?: string; message?: string } {
  const status = first(trailers?.['grpc-status']) ?? first(headers?.['grpc-status']);
  const message = first(trailers?.['grpc-message']) ?? first(headers?.['grpc-message']);
  const out: { status?: string; message?: string } = {};
  if (status !== undefined) out.status = status;
  if (message !== undefined) out.message = decodeMessage(message);
  return out;
}

/** grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"); a bad encoding is kept as it came. */
function decodeMessage(m: string): string {
  try {
    return decodeURIComponent(m);
  } catch {
    return m;
  }
}

/** Percent-encodes a grpc-message: printable ASCII except '%' passes, the rest as UTF-8 %XX. */
export function encodeMessage(m: string): string {
  let out = '';
  for (const byte of Buffer.from(m, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Fields of a trailers-only answer (status in the headers) that belong in the trailers of a full one. */
const STATUS_FIELDS = ['grpc-status', 'grpc-message', 'grpc-status-details-bin'];

/**
 * Splits a trailers-only gRPC answer (HEADERS with END_STREAM carrying `grpc-status`) into headers and
 * trailers. The compatibility API sends headers and ends the stream separately, so the status must travel
 * as trailers to stay a valid gRPC answer; a client reads both forms alike.
 */
export function splitTrailersOnly(headers: Record<string, string | string[]>): Record<string, string | string[]> | undefined {
  if (headers['grpc-status'] === undefined) return undefined;
  const trailers: Record<string, string | string[]> = {};
  for (const f of STATUS_FIELDS) {
    const v = headers[f];
    if (v === undefined) continue;
    trailers[f] = v;
    delete headers[f];
  }
  return trailers;
}
