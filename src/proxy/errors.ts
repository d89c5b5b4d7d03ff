// The one place that turns a failure into a status code, a body and Envoy's response flag.
import { FAILURES } from '../upstream/index.js';

/** Envoy response flags (https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage). */
export type ResponseFlag = 'NR' | 'NC' | 'UH' | 'UO' | 'UF' | 'UT' | 'UC' | 'UR' | 'URX' | 'DC' | 'FI' | 'DI' | 'DPE' | 'SI';

interface LocalReply {
  status: number;
  body: string;
}

const REPLIES: Record<string, LocalReply> = {
  NR: { status: 404, body: 'no route matched this request' },
  NC: { status: 503, body: 'no cluster for this destination' },
  UH: { status: 503, body: 'no healthy upstream' },
  UO: { status: 503, body: 'upstream overflow: too many requests in flight' },
  // Upstream failures take their status from upstream's one failure table.
  UF: { status: FAILURES['connect-failure'].status, body: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure' },
  UC: { status: FAILURES.reset.status, body: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination' },
  UT: { status: FAILURES.timeout.status, body: 'upstream request timeout' },
  UR: {
    status: FAILURES['refused-stream'].status,
    body: 'upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset',
  },
  DPE: { status: 400, body: 'bad request' },
};

export function localReply(flag: ResponseFlag): LocalReply {
  return REPLIES[flag] ?? { status: 500, body: 'internal error' };
}

/** Envoy prints flags in the order of its flag table, not in the order they happened. */
const FLAG_ORDER = [
  'LH',
  'UH',
  'UT',
  'LR',
  'UR',
  'UF',
  'UC',
  'UO',
  'NR',
  'DI',
  'FI',
  'RL',
  'UAEX',
  'RLSE',
  'DC',
  'URX',
  'SI',
  'IH',
  'DPE',
  'UMSDR',
  'RFCF',
  'NFCF',
  'DT',
  'UPE',
  'NC',
  'OM',
  'DF',
  'DO',
  'DR',
];

/** `-` when there are none, else comma-separated in Envoy's order. */
export function formatFlags(flags: readonly ResponseFlag[]): string {
  if (flags.length === 0) return '-';
  if (flags.length === 1) return flags[0]!;
  return [...new Set(flags)].sort((a, b) => FLAG_ORDER.indexOf(a) - FLAG_ORDER.indexOf(b)).join(',');
}
