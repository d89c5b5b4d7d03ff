// Why a gateway's admin listener could not be asked, in words: undici's "fetch failed" hides the reason in
// `err.cause.code` (a Node system error code), which is the part an operator needs.

/** The system error codes worth naming; any other code is printed as it is. */
const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the gateway running, and is --admin its admin listener?)',
  ECONNRESET: 'connection reset by the peer',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out connecting',
  UND_ERR_CONNECT_TIMEOUT: 'timed out connecting',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for the answer',
  UND_ERR_BODY_TIMEOUT: 'timed out reading the answer',
  UND_ERR_SOCKET: 'the connection closed before an answer',
  ENOTFOUND: 'DNS lookup failed: no such host',
  EAI_AGAIN: 'DNS lookup failed: temporary failure (no resolver reachable?)',
};

/** One line for an error from fetch(): the reason and its code, never a bare "fetch failed". */
export function unreachableReason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  // AbortSignal.timeout() rejects with a DOMException named TimeoutError.
  if (e?.name === 'TimeoutError') return 'no answer in time (timeout)';
  const code = e?.cause?.code;
  if (code) return `${REASONS[code] ?? e.cause?.message ?? 'cannot connect'} [${code}]`;
  return e?.cause?.message ?? e?.message ?? String(err);
}

/** fetch(), with a failure to reach `admin` thrown as one sentence naming why. */
export async function fetchAdmin(admin: string, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new Error(`cannot reach ${admin}: ${unreachableReason(err)}`);
  }
}
