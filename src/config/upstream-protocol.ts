// Istio's upstream protocol selection: which clusters speak HTTP/2 to their endpoints.
import type { ConnectionPoolSettings } from './model.js';

/** Port protocols Istio sends as HTTP/2 (protocol.Instance.IsHTTP2: HTTP2, GRPC, GRPC-Web). */
const HTTP2_PORT_PROTOCOLS = new Set(['HTTP2', 'GRPC', 'GRPC-WEB']);

/**
 * HTTP/2 when the port's protocol is HTTP/2-based (set by `protocol`, a Kubernetes `appProtocol` of `grpc`,
 * `http2` or `kubernetes.io/h2c`, or a `grpc-`/`http2-` port name); for an HTTP port, when the
 * DestinationRule's `h2UpgradePolicy` is UPGRADE (Istio's cluster builder shouldH2Upgrade; the mesh default,
 * DO_NOT_UPGRADE, applies to DEFAULT). HTTP/1.1 otherwise.
 */
export function speaksHttp2(portProtocol: string, pool: ConnectionPoolSettings): boolean {
  if (HTTP2_PORT_PROTOCOLS.has(portProtocol)) return true;
  return portProtocol === 'HTTP' && pool.h2UpgradePolicy === 'UPGRADE';
}
