// The one place that turns a failure into a status code, a body and Envoy's response flag.

/** Envoy response flags (https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage). */
export type ResponseFlag = 'NR' | 'NC' | 'UH' | 'UO' | 'UF' | 'UT' | 'UC' | 'URX' | 'DC' | 'FI' | 'DI' | 'DPE';

interface LocalReply {
  status: number;
  body: string;
}

const REPLIES: Record<string, LocalReply> = {
  NR: { status: 404, body: 'no route matched this request' },
  NC: { status: 503, body: 'no cluster for this destination' },
  UH: { status: 503, body: 'no healthy upstream' },
  UO: { status: 503, body: 'upstream overflow: too many requests in flight' },
  UF: { status: 503, body: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure' },
  UC: { status: 503, body: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination' },
  UT: { status: 504, body: 'upstream request timeout' },
  DPE: { status: 400, body: 'bad request' },
};

export function localReply(flag: ResponseFlag): LocalReply {
  return REPLIES[flag] ?? { status: 500, body: 'internal error' };
}
