// One JSON line per request, written without blocking the event loop (Envoy's access log, in JSON by default).
import { createWriteStream, type WriteStream } from 'node:fs';

export interface AccessLogEntry {
  start_time: string;
  method: string;
  path: string;
  protocol: string;
  response_code: number;
  response_flags: string;
  bytes_received: number;
  bytes_sent: number;
  duration_ms: number;
  upstream_service_time_ms?: number;
  route_name: string;
  upstream_cluster: string;
  upstream_subset: string;
  upstream_host: string;
  authority: string;
  request_id: string;
  downstream_remote_address: string;
  user_agent: string;
  x_forwarded_for: string;
  /** One entry per mirror target the route has: the shadow's state when the primary finished. */
  mirrors: Array<{ cluster: string; outcome: string }>;
}

export interface AccessLog {
  write(entry: AccessLogEntry): void;
  close(): Promise<void>;
}

/** Lines are gathered and written together every few milliseconds: one write per batch, not per request. */
const FLUSH_MS = 20;
const FLUSH_BYTES = 64 * 1024;

/** `-` is stdout, `off` disables, anything else is a file path (appended). */
export function openAccessLog(target: string): AccessLog {
  if (target === 'off') return { write() {}, close: async () => {} };
  const stream: NodeJS.WritableStream | WriteStream = target === '-' ? process.stdout : createWriteStream(target, { flags: 'a' });
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending) stream.write(pending);
    pending = '';
  };
  return {
    write(entry) {
      pending += `${JSON.stringify(entry)}\n`;
      if (pending.length >= FLUSH_BYTES) flush();
      else timer ??= setTimeout(flush, FLUSH_MS);
    },
    close: () =>
      new Promise<void>((resolve) => {
        flush();
        if (stream === process.stdout) resolve();
        else (stream as WriteStream).end(() => resolve());
      }),
  };
}

/** Collects entries in memory: for tests and the demo. */
export class MemoryAccessLog implements AccessLog {
  readonly entries: AccessLogEntry[] = [];
  write(entry: AccessLogEntry): void {
    this.entries.push(entry);
  }
  async close(): Promise<void> {}
}
