// The data path's own metrics about downstream clients: what was refused before routing, and connections.
import { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../telemetry/index.js';

/** Why a request or connection was refused before it reached routing. */
export type DownstreamRejectReason =
  | 'too_many_headers'
  | 'duplicate_host'
  | 'invalid_framing'
  | 'unsupported_version'
  | 'invalid_host'
  | 'invalid_target'
  | 'invalid_path'
  | 'header_timeout'
  | 'body_timeout'
  | 'connection_limit'
  | 'malformed'
  | 'head_too_large';

export class DownstreamStats {
  /** Open downstream connections on the service ports, across all of them. */
  connections = 0;
  /** Of those, upgraded ones (WebSocket tunnels) open now. */
  upgraded = 0;
  readonly rejected: Counter<'reason'>;
  private readonly byReason = new Map<DownstreamRejectReason, { reason: DownstreamRejectReason }>();

  constructor(metrics: Metrics) {
    this.rejected = new Counter({
      name: 'shadowgate_downstream_rejected_total',
      help: 'Requests and connections refused before routing, by reason (none of them reached an upstream)',
      labelNames: ['reason'] as const,
      registers: [metrics.registry],
    });
    const gauge: Gauge = new Gauge({
      name: 'shadowgate_downstream_connections',
      help: 'Open downstream connections on the service ports',
      registers: [metrics.registry],
      collect: (): void => gauge.set(this.connections),
    });
    const upgraded: Gauge = new Gauge({
      name: 'shadowgate_downstream_upgraded_connections',
      help: 'Open upgraded (WebSocket) connections proxied to a primary endpoint',
      registers: [metrics.registry],
      collect: (): void => upgraded.set(this.upgraded),
    });
  }

  reject(reason: DownstreamRejectReason): void {
    let labels = this.byReason.get(reason);
    if (!labels) {
      labels = { reason };
      this.byReason.set(reason, labels);
    }
    this.rejected.inc(labels);
  }
}
