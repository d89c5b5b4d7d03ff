// Talks to the Kubernetes API: the client library supplies the server, TLS agent and credentials for every
// request; the request itself is node:http(s), so a watch can be aborted before its headers arrive (the
// library's Watch only hands back its AbortController once they have) and lists and watches carry the same raw JSON.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { userAgent } from './user-agent.js';

/** A non-2xx answer, or an ERROR event in a watch stream (`status` is its `code`). */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/**
 * Largest answer read from the API server (a list page, a discovery document, one object). An object is at most
 * about 1.5 MiB (etcd's request limit) and a page holds at most 500 (the watcher's `limit`); 64 MiB is far above
 * what a real page takes, and keeps a misbehaving server or proxy from growing the heap without end.
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** Longest line of a watch stream: one event, whose object is bounded by etcd's 1.5 MiB. */
export const MAX_WATCH_LINE_BYTES = 16 * 1024 * 1024;

/** An answer past its bound: refused unread (the request is aborted), and the caller retries as after any error. */
export class AnswerTooLargeError extends Error {
  override name = 'AnswerTooLargeError';
}

/** True for `410 Gone`: the resource version is too old (compacted); only a new list helps. */
export function isGone(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 410;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

export function isForbidden(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 403;
}

/** Metadata-only answers for kinds where only labels matter (client-go's metadata informers ask the same way). */
export const ACCEPT_METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
export const ACCEPT_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

export interface StreamHandle {
  response: http.IncomingMessage;
  /** Destroys the request and its socket. */
  abort(reason: Error): void;
}

/** Requests against the current context of a KubeConfig. */
export class KubeHttp {
  private readonly server: URL;

  constructor(private readonly kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig: no current cluster');
    this.server = new URL(cluster.server);
  }

  get serverUrl(): string {
    return this.server.href;
  }

  private url(path: string, query: Record<string, string | number | boolean | undefined>): URL {
    const base = this.server.pathname.replace(/\/$/, '');
    const url = new URL(this.server.href);
    url.pathname = `${base}${path}`;
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /**
   * Opens a GET and resolves with the response head once it is 2xx (rejects with KubeApiError otherwise).
   * `signal` aborts at any time, including before the head arrives.
   */
  async open(path: string, query: Record<string, string | number | boolean | undefined>, accept: string, signal: AbortSignal): Promise<StreamHandle> {
    // Asked per request: in-cluster tokens are rotated on disk and exec/OIDC credentials expire.
    const opts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    signal.throwIfAborted();
    const url = this.url(path, query);
    const headers: http.OutgoingHttpHeaders = { ...(opts.headers as http.OutgoingHttpHeaders | undefined), accept, 'user-agent': userAgent() };
    const request = url.protocol === 'https:' ? https.request : http.request;
    return await new Promise<StreamHandle>((resolve, reject) => {
      const req = request(url, { ...opts, method: 'GET', headers, signal });
      const abort = (reason: Error) => req.destroy(reason);
      req.on('error', reject);
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          // Once the head is here, errors belong to the body's reader.
          req.off('error', reject);
          req.on('error', () => {});
          resolve({ response: res, abort });
          return;
        }
        readAll(res, `${path}: the ${status} answer`)
          .then((text) => reject(apiError(status, text)))
          .catch((err: Error) => {
            req.destroy(err);
            reject(err);
          });
      });
      req.end();
    });
  }

  /** GET returning parsed JSON. */
  async getJson(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    accept: string,
    signal: AbortSignal,
    timeoutMs: number,
    limit = MAX_ANSWER_BYTES,
  ): Promise<Record<string, unknown>> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const both = AbortSignal.any([signal, timeout]);
    const { response, abort } = await this.open(path, query, accept, both);
    let text: string;
    try {
      text = await readAll(response, `GET ${path}`, limit);
    } catch (err) {
      // Past the bound: stop the transfer rather than drain it.
      abort(err as Error);
      throw err;
    }
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`GET ${path}: expected a JSON object`);
    return value as Record<string, unknown>;
  }

  /** POST a JSON object (creating an Event); resolves with the parsed answer, rejects with KubeApiError. */
  postJson(path: string, body: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    return this.send('POST', path, body, 'application/json', timeoutMs);
  }

  /** PATCH (a status subresource, `application/merge-patch+json`); rejects with KubeApiError (409 on a stale resourceVersion). */
  patchJson(path: string, body: Record<string, unknown>, contentType: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return this.send('PATCH', path, body, contentType, timeoutMs);
  }

  private async send(method: string, path: string, body: Record<string, unknown>, contentType: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const opts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    const url = this.url(path, {});
    const text = JSON.stringify(body);
    const headers: http.OutgoingHttpHeaders = {
      ...(opts.headers as http.OutgoingHttpHeaders | undefined),
      accept: 'application/json',
      'user-agent': userAgent(),
      'content-type': contentType,
      'content-length': Buffer.byteLength(text),
    };
    const request = url.protocol === 'https:' ? https.request : http.request;
    return await new Promise((resolve, reject) => {
      const req = request(url, { ...opts, method, headers, signal: AbortSignal.timeout(timeoutMs) });
      req.on('error', reject);
      req.on('response', (res) => {
        readAll(res, `${method} ${path}`)
          .then((answer) => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) reject(apiError(status, answer));
            else resolve(answer ? (JSON.parse(answer) as Record<string, unknown>) : {});
          })
          .catch((err: Error) => {
            req.destroy(err);
            reject(err);
          });
      });
      req.end(text);
    });
  }
}

/** The whole body, up to `limit` bytes; past it, AnswerTooLargeError (the caller aborts the request). */
export async function readAll(res: http.IncomingMessage, what: string, limit = MAX_ANSWER_BYTES): Promise<string> {
  const declared = Number(res.headers['content-length']);
  if (declared > limit) throw new AnswerTooLargeError(`${what}: answer of ${declared} bytes is larger than the ${limit}-byte bound; refused`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AnswerTooLargeError(`${what}: answer larger than the ${limit}-byte bound; refused unread`);
    chunks.push(chunk as Buffer);
  }
  if (!res.complete) throw new Error('connection closed before the whole answer arrived');
  // Decoded once at the end: a multi-byte character split across chunks stays whole.
  return Buffer.concat(chunks).toString('utf8');
}

/** Builds an error from a Kubernetes `Status` object (or from a bare status code). */
export function apiError(status: number, body: string | Record<string, unknown>): KubeApiError {
  let obj: Record<string, unknown> | undefined;
  if (typeof body === 'string') {
    try {
      const v: unknown = JSON.parse(body);
      if (v && typeof v === 'object') obj = v as Record<string, unknown>;
    } catch {
      obj = undefined;
    }
  } else obj = body;
  const code = typeof obj?.code === 'number' ? obj.code : status;
  const reason = typeof obj?.reason === 'string' ? obj.reason : (http.STATUS_CODES[code] ?? 'Error');
  const message = typeof obj?.message === 'string' ? obj.message : typeof body === 'string' ? body.slice(0, 200) : reason;
  return new KubeApiError(code, reason, `${code} ${reason}: ${message}`);
}
