// The grpc-timeout request header (gRPC over HTTP/2: "Timeout" → 1-8 digits and a unit).

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };

/** Milliseconds, or undefined for an absent or malformed value (Envoy ignores a malformed grpc-timeout). */
export function parseGrpcTimeout(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s || s.length < 2 || s.length > 9) return undefined;
  const unit = UNIT_MS[s[s.length - 1]!];
  const digits = s.slice(0, -1);
  if (unit === undefined || !/^\d{1,8}$/.test(digits)) return undefined;
  return Number(digits) * unit;
}
