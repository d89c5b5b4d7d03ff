// The bounds of a downstream HTTP/2 connection, as Envoy recommends for an edge proxy.
import type { Settings } from 'node:http2';

/**
 * Envoy's edge best practices (docs: configuration/best_practices/edge): at most 100 concurrent streams per
 * connection, a 64 KiB stream window and a 1 MiB connection window, so one client cannot make the proxy
 * buffer more than about that much per connection; the request head is bounded like HTTP/1's (60 KiB).
 */
export interface H2Limits {
  maxConcurrentStreams: number;
  initialStreamWindowBytes: number;
  connectionWindowBytes: number;
  maxHeaderListBytes: number;
  /** Header fields per request, pseudo-headers included (Envoy: 100 headers). */
  maxHeaderPairs: number;
  /** nghttp2's memory cap per session (MiB): beyond it new streams are refused (ENHANCE_YOUR_CALM). */
  maxSessionMemoryMiB: number;
  /** A connection with no stream open for this long is closed with GOAWAY (as HTTP/1's keep-alive timeout). */
  idleTimeoutMs: number;
}

export const DEFAULT_H2_LIMITS: Readonly<H2Limits> = Object.freeze({
  maxConcurrentStreams: 100,
  initialStreamWindowBytes: 65_536,
  connectionWindowBytes: 1_048_576,
  maxHeaderListBytes: 60 * 1024,
  maxHeaderPairs: 104,
  maxSessionMemoryMiB: 10,
  idleTimeoutMs: 60_000,
});

export function serverSettings(l: H2Limits): Settings {
  return {
    maxConcurrentStreams: l.maxConcurrentStreams,
    initialWindowSize: l.initialStreamWindowBytes,
    maxHeaderListSize: l.maxHeaderListBytes,
    enablePush: false,
  };
}
