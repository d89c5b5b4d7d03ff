// The data path. A request passes these phases, in order; each says what it does by default.
//   1. accept   — Node answers 400/431/408 to malformed, oversized or slow heads; then more than 100 headers
//                 (431), two Hosts or a bad one (400), the absolute-form target turned into origin form and the
//                 path normalised as Istio's Envoy (request-head.ts); request id (kept or generated), context.
//   2. route    — virtual host by listener port and Host, first matching route; none: 404 NR.
//      cors     — the route's corsPolicy (Envoy's CORS filter) or HTTPRoute CORS filter: a preflight from an allowed
//                 origin (Gateway API: any preflight) is answered here, unmirrored; answers to allowed origins get the
//                 allow headers (cors.ts).
//   3. fault    — Istio fault injection: delay (DI), abort (FI). Aborted requests are not mirrored.
//   4. local    — redirect and directResponse answer here, unmirrored.
//   5. prepare  — pick the destination by weight, rewrite uri/authority, header operations (destination, then route).
//   6. mirror   — one random number per request decides every mirror; shadows take a bounded copy of the body.
//   7. forward  — primary attempts with Istio's retries and timeouts; the answer streams back.
//   8. log      — one access-log line and the metrics, when the downstream response is done.
// An upgrade (WebSocket, upgrade.ts) passes 1–5 alike (an upgrade Istio does not allow: 403 in 1), is never
// mirrored (6 counts it as `upgrade`), and in 7 is sent to the primary as an upgrade and tunnelled; 8 at its end.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RequestBodyTee } from '../body/index.js';
import type { AnswerRecorder, Comparator, ExchangeSource } from '../comparator/index.js';
import type { Cluster, Endpoint, Route, Snapshot, WeightedDestination } from '../config/index.js';
import type { ShadowHandle, ShadowWriter } from '../mirror/index.js';
import { applyHeaderOps, type HeaderMap, pickDestination, type RequestFacts, type RouteTable, selectMirrors } from '../routing/index.js';
import type { AccessLog, Metrics } from '../telemetry/index.js';
import { type ClusterManager, FAILURES, Pool } from '../upstream/index.js';
import { requestEnded } from './connection-idle.js';
import { addCorsHeaders, type CorsDecision, corsDecision } from './cors.js';
import { DownstreamStats } from './downstream-stats.js';
import { formatFlags, localReply, type ResponseFlag } from './errors.js';
import { encodeMessage, grpcOutcome, httpToGrpcStatus, isGrpc, parseGrpcTimeout, splitTrailersOnly } from './grpc/index.js';
import { requestHasBody } from './h2/index.js';
import { firstValue, forwardableHeaders, type HeaderRecord, responseHeaders } from './headers.js';
import { type DownstreamLimits, downstreamLimits } from './limits.js';
import { checkRequestHead } from './request-head.js';
import { backoffMs, retriableFailure, retriableGrpc, retriableStatus } from './retry.js';
import { type PendingUpgrade, proxyUpgrade, upgradeOf } from './upgrade.js';
import { type AttemptEvents, type DownstreamHook, runAttempt } from './upstream-attempt.js';

/** What one request reads of the gateway's state; swapped whole on reload, kept by requests in flight. */
export interface RoutingState {
  snapshot: Snapshot;
  table: RouteTable;
}

export interface ProxyDeps {
  state(): RoutingState;
  primary: ClusterManager;
  shadows: ShadowWriter;
  metrics: Metrics;
  accessLog: AccessLog;
  /** Pairs mirrored answers with the primary's; absent when comparison is off. */
  comparator?: Comparator | undefined;
  random?: () => number;
  /** Limits on what downstream clients may send (defaults: limits.ts). */
  limits?: Partial<DownstreamLimits>;
}

/** Our pseudonym in the Via header (RFC 9110 §7.6.3), which is how a second hop is recognised. */
const VIA = 'shadowgate';

/** Bytes of request body kept to replay on a retry (Envoy's default per-request buffer limit). */
const RETRY_BUFFER_BYTES = 1024 * 1024;
const PRIMARY_HIGH_WATER = 64 * 1024;

/** The per-request context every phase reads and writes (Pingora's CTX). */
class RequestContext {
  readonly started = performance.now();
  /** Epoch milliseconds when the request arrived (the access log's start_time). */
  readonly startMs = Date.now();
  requestId = '';
  /** The normalised origin-form target routing matched (and upstreams receive, after rewrites). */
  path = '';
  /** Host, or the absolute-form target's authority. */
  authority = '';
  routeName = '';
  cluster = '';
  subset = '';
  upstreamHost = '';
  clusterModel: Cluster | undefined;
  endpoint: Endpoint | undefined;
  flags: ResponseFlag[] = [];
  status = 0;
  bytesSent = 0;
  upstreamTimeMs: number | undefined;
  mirrors: ShadowHandle[] = [];
  tee: RequestBodyTee | undefined;
  /** Captures the primary's answer when the request's shadows are compared. */
  recorder: AnswerRecorder | undefined;
  downstreamClosed = false;
  /** A gRPC request (content-type application/grpc[+codec]): local replies, status, metrics and the log speak gRPC. */
  grpc = false;
  /** The client's address, read once: an HTTP/2 stream outlives its session's socket in the log. */
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  /** The route's CORS decision: allow headers for every answer to an allowed origin. */
  cors: CorsDecision = undefined;
  /** The running upstream attempt's reaction to an early downstream close. */
  readonly downstream: DownstreamHook = { onClose: undefined };

  /** Holders still using this context: the data path (serve) and the response's 'close' (finish). */
  holders = 2;

  constructor(
    readonly handler: ProxyHandler,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly port: number,
  ) {}

  /**
   * Drops what the context points to once nobody uses it. A context that outlived two young-generation GCs is
   * promoted, and a dead old object keeps whatever young objects it still points to alive until the next full GC;
   * measured under load, whole requests (request, response, headers, shadows: ~3 KiB each) were promoted that way
   * (`npm run bench:gc`). An emptied context pins nothing.
   */
  release(): void {
    if (--this.holders > 0) return;
    const self = this as { -readonly [K in keyof RequestContext]: unknown };
    self.req = undefined;
    self.res = undefined;
    this.mirrors = [];
    this.tee = undefined;
    this.recorder = undefined;
    this.cors = undefined;
    this.clusterModel = undefined;
    this.endpoint = undefined;
    this.downstream.onClose = undefined;
  }
}

// The data path's per-request helpers are small classes, not closures: a closure over a request's variables
// was measured to keep whole requests alive through young-generation GCs (see DownstreamHook).

/** The request as routing reads it; Node builds headersDistinct on first access, so only header conditions pay. */
class RequestFactsView implements RequestFacts {
  constructor(
    private readonly req: IncomingMessage,
    readonly path: string,
    readonly authority: string,
    readonly scheme: string,
    readonly port: number,
  ) {}
  get method(): string {
    return this.req.method ?? 'GET';
  }
  get headers(): HeaderMap {
    return this.req.headersDistinct;
  }
}

/** What comparison records of the request, built only when the exchange is admitted. */
class ExchangeHead implements ExchangeSource {
  constructor(
    private readonly ctx: RequestContext,
    private readonly route: Route,
    private readonly dest: WeightedDestination,
    private readonly candidateSubset: string,
    private readonly headers: HeaderRecord,
  ) {}
  build() {
    const { ctx, dest } = this;
    return {
      at: Date.now(),
      requestId: ctx.requestId,
      route: this.route.name,
      method: ctx.req.method ?? 'GET',
      path: ctx.path,
      host: dest.host,
      primarySubset: dest.subset,
      candidateSubset: this.candidateSubset,
      requestHeaders: this.headers,
    };
  }
}

/** One primary attempt's answer on its way downstream: retry or commit, header operations, bytes, trailers. */
class PrimaryAnswer implements AttemptEvents {
  readonly started = performance.now();
  /** A gRPC answer's status in this attempt's headers (a trailers-only answer that may be retried). */
  attemptGrpcStatus: string | undefined;
  private pendingTrailers: Record<string, string | string[]> | undefined;

  constructor(
    private readonly handler: ProxyHandler,
    private readonly ctx: RequestContext,
    private readonly route: Route,
    private readonly dest: WeightedDestination,
    private readonly canRetry: boolean,
  ) {}

  retryOnStatus(status: number, h: Record<string, string | string[] | undefined>): boolean {
    const { ctx } = this;
    const retries = this.route.retries;
    if (ctx.grpc) this.attemptGrpcStatus = firstValue(h['grpc-status']);
    return this.canRetry && (retriableStatus(retries, status) || (ctx.grpc && retriableGrpc(retries, h['grpc-status'])));
  }

  commit(status: number, upstreamHeaders: Record<string, string | string[] | undefined>): void {
    const { ctx } = this;
    ctx.upstreamTimeMs = performance.now() - this.started;
    ctx.status = status;
    let out = responseHeaders(upstreamHeaders);
    out = applyHeaderOps(out, this.dest.headers.response);
    out = applyHeaderOps(out, this.route.headers.response);
    addCorsHeaders(out, ctx.cors);
    if (this.handler.draining && ctx.req.httpVersionMajor === 1) out.connection = 'close';
    if (ctx.grpc) {
      const s = grpcOutcome(upstreamHeaders, undefined);
      ctx.grpcStatus = s.status;
      ctx.grpcMessage = s.message;
      this.pendingTrailers = splitTrailersOnly(out);
    }
    ctx.res.writeHead(status, out);
    ctx.recorder?.head(status, upstreamHeaders);
  }

  onData(chunk: Buffer): void {
    this.ctx.bytesSent += chunk.length;
    this.ctx.recorder?.data(chunk);
  }

  onEnd(trailers: Record<string, string | string[] | undefined>): void {
    const { ctx } = this;
    if (this.pendingTrailers || Object.keys(trailers).length > 0) {
      const t = { ...this.pendingTrailers, ...responseHeaders(trailers) };
      if (ctx.grpc) {
        const s = grpcOutcome(undefined, t);
        ctx.grpcStatus = s.status ?? ctx.grpcStatus;
        ctx.grpcMessage = s.message ?? ctx.grpcMessage;
      }
      ctx.res.addTrailers(t);
      ctx.recorder?.trailers(t);
    }
    ctx.recorder?.done();
  }
}

/** Where a response keeps its request's context for the shared 'close' listener. */
const CONTEXT = Symbol('shadowgate request context');
type ContextHolder = ServerResponse & { [CONTEXT]?: RequestContext | undefined };

function onResponseClose(this: ContextHolder): void {
  const ctx = this[CONTEXT];
  this[CONTEXT] = undefined;
  ctx?.handler.closed(ctx);
}

export class ProxyHandler {
  private readonly random: () => number;
  readonly limits: Readonly<DownstreamLimits>;
  readonly stats: DownstreamStats;
  /** Requests being served (for draining). */
  inFlight = 0;
  draining = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly deps: ProxyDeps) {
    this.random = deps.random ?? Math.random;
    this.limits = downstreamLimits(deps.limits);
    this.stats = new DownstreamStats(deps.metrics);
  }

  handle(req: IncomingMessage, res: ServerResponse, port: number): void {
    const ctx = new RequestContext(this, req, res, port);
    this.inFlight++;
    // One shared listener finds the context on the response: no closure per request (see DownstreamHook).
    (res as ContextHolder)[CONTEXT] = ctx;
    res.on('close', onResponseClose);
    if (this.draining) res.shouldKeepAlive = false;
    void this.run(ctx);
  }

  /** The response closed: finished, or cut before its end (the client went away). */
  closed(ctx: RequestContext): void {
    if (!ctx.res.writableFinished) {
      ctx.downstreamClosed = true;
      ctx.downstream.onClose?.downstreamClosed();
    }
    this.finish(ctx);
  }

  private async run(ctx: RequestContext): Promise<void> {
    try {
      await this.serve(ctx);
    } catch (err) {
      // A bug must cost one request, never the process.
      const { req, res } = ctx;
      process.stderr.write(`shadowgate: internal error serving ${req.method} ${req.url}: ${(err as Error)?.stack ?? err}\n`);
      if (!res.headersSent) this.reply(ctx, 500, 'internal error');
      else res.destroy();
    } finally {
      ctx.release();
    }
  }

  /** Resolves when no request is in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async serve(ctx: RequestContext): Promise<void> {
    const { req } = ctx;
    // 1. accept
    ctx.grpc = isGrpc(req.headers['content-type']);
    ctx.remoteAddress = req.socket.remoteAddress;
    ctx.remotePort = req.socket.remotePort;
    const idHeader = firstValue(req.headers['x-request-id']);
    ctx.requestId = idHeader || randomUUID();
    const head = checkRequestHead(req, this.limits);
    if (!head.ok) {
      this.stats.reject(head.reason);
      ctx.flags.push('DPE');
      return this.reply(ctx, head.status, head.message, 'text/plain', true);
    }
    ctx.path = head.path;
    ctx.authority = head.authority;
    const upgrade = upgradeOf(req);
    if (upgrade?.kind === 'refused') return this.reply(ctx, 403, 'upgrade not allowed', 'text/plain', true);

    // A request that already passed through Shadowgate would loop (a taken-over Service whose backends lead
    // back to the gateway): refuse the second hop instead of amplifying it.
    const via = req.headers.via;
    if (via?.includes(VIA)) return this.reply(ctx, 508, 'loop detected: this request already passed through Shadowgate');

    // 2. route
    const state = this.deps.state();
    const authority = ctx.authority;
    const vhost = state.table.findVirtualHost(ctx.port, authority);
    const scheme = arrivedOverTls(req) ? 'https' : 'http';
    const matched = vhost?.match(new RequestFactsView(req, ctx.path, authority, scheme, ctx.port));
    if (!matched) return this.localFailure(ctx, 'NR');
    const { route, compiled, matchIndex } = matched;
    ctx.routeName = route.name;

    // cors (before fault injection, as in Istio's filter chain)
    if (route.cors) {
      ctx.cors = corsDecision(route.cors, req);
      if (ctx.cors?.kind === 'preflight') {
        for (const [name, value] of Object.entries(ctx.cors.headers)) ctx.res.setHeader(name, value);
        return this.reply(ctx, 200, '');
      }
    }

    // 3. fault
    if (route.fault?.delay && this.random() * 100 < route.fault.delay.percentage) {
      ctx.flags.push('DI');
      await new Promise((r) => setTimeout(r, route.fault!.delay!.fixedDelayMs));
      if (ctx.downstreamClosed) return;
    }
    if (route.fault?.abort && this.random() * 100 < route.fault.abort.percentage) {
      ctx.flags.push('FI');
      return this.reply(ctx, route.fault.abort.httpStatus, 'fault filter abort');
    }

    // 4. local answers
    const action = route.action;
    if (action.kind === 'directResponse') {
      return this.reply(ctx, action.response.status, action.response.body ?? '', action.response.body ? 'text/plain' : undefined);
    }
    // A redirect's path is the request's after the route's rewrite (Gateway API ReplacePrefixMatch); unchanged without one.
    if (action.kind === 'redirect') return this.redirect(ctx, route, authority, compiled.rewritePath(matchIndex, ctx.path));

    // 5. prepare
    const random = this.random();
    const dest = pickDestination(action.destinations, random);
    if (!dest) return this.localFailure(ctx, 'NC');
    ctx.cluster = dest.cluster;
    ctx.subset = dest.subset;
    const path = compiled.rewritePath(matchIndex, ctx.path);
    const upstreamAuthority = compiled.rewriteAuthority(authority, dest);
    let headers: HeaderRecord = forwardableHeaders(req.headers);
    headers = applyHeaderOps(headers, dest.headers.request);
    headers = applyHeaderOps(headers, route.headers.request);
    // Only copies carry the marker: a client sending it would make the primary skip side effects (an order
    // "placed" and never saved). Shadows set it on their own copy of these headers.
    const marker = this.deps.shadows.markerHeader;
    if (marker && headers[marker] !== undefined) delete headers[marker];
    headers['x-request-id'] = ctx.requestId;
    headers.host = upstreamAuthority;
    headers.via = via ? `${via}, 1.1 ${VIA}` : `1.1 ${VIA}`;
    // Behind a terminating gateway the upstream sees plain HTTP: say how the client came, as Envoy does.
    if (scheme === 'https') headers['x-forwarded-proto'] = 'https';
    if (requestHasBody(req)) ctx.tee = this.teeBody(ctx, req);

    // 6. mirror (never for upgrades or CONNECT: a shadow cannot take over a connection)
    if (route.mirrors.length > 0 && !req.headers.upgrade && req.method !== 'CONNECT') {
      const fired = selectMirrors(route.mirrors, random);
      // Roles for comparison: a mirror to the primary's own subset is the noise baseline (Diffy's secondary),
      // the first mirror elsewhere is the candidate; further mirrors are sent but not compared.
      let candidate = -1;
      let secondary = -1;
      for (let i = 0; i < fired.length; i++) {
        const t = fired[i]!;
        if (t.host === dest.host && t.subset === dest.subset) {
          if (secondary < 0) secondary = i;
        } else if (candidate < 0) candidate = i;
      }
      const exchange =
        candidate >= 0
          ? this.deps.comparator?.begin(new ExchangeHead(ctx, route, dest, fired[candidate]!.subset, headers), route, fired[candidate])
          : undefined;
      // The request body, for the comparison's whole-exchange samples (bounded; redacted before it is stored).
      if (exchange && ctx.tee) ctx.tee.addSink(exchange.requestBody());
      const shadowRequest = {
        method: req.method ?? 'GET',
        path,
        headers,
        authority: upstreamAuthority,
        clientAddress: ctx.remoteAddress ?? '',
        grpc: ctx.grpc,
      };
      for (let i = 0; i < fired.length; i++) {
        const target = fired[i]!;
        const compared = exchange && i === candidate ? exchange.expect('candidate') : exchange && i === secondary ? exchange.expect('secondary') : undefined;
        ctx.mirrors.push(this.deps.shadows.start(target, shadowRequest, ctx.tee, compared, state.snapshot.clusters[target.cluster]));
      }
      if (exchange) ctx.recorder = exchange.expect('primary');
    } else if (upgrade?.kind === 'tunnel' && route.mirrors.length > 0) {
      for (const target of selectMirrors(route.mirrors, random)) ctx.mirrors.push(this.deps.shadows.skip(target, 'upgrade'));
    }

    // 7. forward
    if (upgrade?.kind === 'tunnel') return this.tunnel(ctx, route, dest, state.snapshot.clusters[dest.cluster], path, headers, upgrade);
    await this.forward(ctx, route, dest, state.snapshot.clusters[dest.cluster], path, headers);
  }

  private async forward(
    ctx: RequestContext,
    route: Route,
    dest: WeightedDestination,
    cluster: Cluster | undefined,
    path: string,
    headers: HeaderRecord,
  ): Promise<void> {
    const { req, res } = ctx;
    ctx.clusterModel = cluster;
    const retries = route.retries;
    const hashKey = cluster?.policy.consistentHash ? this.hashKey(ctx, cluster) : undefined;
    // Istio sets Envoy's max_stream_duration.grpc_timeout_header_max to the route timeout: a gRPC call's own
    // grpc-timeout is its deadline, capped by the route's (none: uncapped).
    const grpcTimeout = ctx.grpc ? parseGrpcTimeout(req.headers['grpc-timeout']) : undefined;
    const timeoutMs = grpcTimeout !== undefined ? Math.min(grpcTimeout, route.timeoutMs ?? Number.POSITIVE_INFINITY) : route.timeoutMs;
    const routeDeadline = timeoutMs !== undefined ? performance.now() + timeoutMs : undefined;
    let attempt = 0;
    let lastFailure: ResponseFlag | undefined;

    for (;;) {
      if (ctx.downstreamClosed) return;
      const picked = this.deps.primary.pick(dest.cluster, hashKey);
      if (!picked.ok) {
        // A retry that finds no host reports the failure that caused it, as Envoy does.
        if (attempt > 0 && lastFailure) {
          ctx.flags.push('URX');
          return this.localFailure(ctx, lastFailure);
        }
        return this.localFailure(ctx, picked.flag);
      }
      ctx.upstreamHost = `${picked.endpoint.address}:${picked.endpoint.port}`;
      ctx.endpoint = picked.endpoint;
      ctx.recorder?.from(picked.origin);
      const body = ctx.tee ? ctx.tee.attachPrimary() : null;
      if (body === undefined) {
        // The body outgrew the retry buffer: this attempt cannot be replayed.
        picked.onDone({ kind: 'cancelled' });
        return this.localFailure(ctx, lastFailure ?? 'UF');
      }
      const canRetry = attempt < retries.attempts && (!ctx.tee || ctx.tee.replayable);
      const answer = new PrimaryAnswer(this, ctx, route, dest, canRetry);
      const outcome = await runAttempt({
        dispatcher: picked.dispatcher,
        path,
        method: req.method ?? 'GET',
        headers,
        body,
        res,
        downstream: ctx.downstream,
        routeDeadline,
        perTryTimeoutMs: retries.perTryTimeoutMs,
        events: answer,
      });
      // What the workload's own sidecar would count: every attempt it received (reporter="destination").
      // A gRPC attempt carries its own status: the committed answer's (trailers included), or a retried one's headers.
      const grpcStatus = ctx.grpc ? ((outcome.kind === 'answered' ? ctx.grpcStatus : answer.attemptGrpcStatus) ?? '') : undefined;
      this.deps.metrics.istio.recordAttempt(
        cluster,
        picked.endpoint,
        outcome,
        performance.now() - answer.started,
        ctx.tee?.bytes ?? 0,
        ctx.bytesSent,
        grpcStatus,
      );
      switch (outcome.kind) {
        case 'answered':
          picked.onDone({ kind: 'response', status: outcome.status });
          // The answer is complete; the rest of the request body only matters to the shadows.
          ctx.tee?.detachPrimary();
          return;
        case 'retry-status':
          picked.onDone({ kind: 'response', status: outcome.status });
          lastFailure = undefined;
          attempt++;
          await this.backoff(attempt);
          continue;
        case 'failed': {
          picked.onDone({ kind: outcome.failure });
          if (outcome.afterCommit) {
            // The head is out: the only honest signal left is a cut connection.
            // Mid-answer every failure but our own timers is a cut connection (UC), whatever broke it.
            if (!ctx.downstreamClosed) ctx.flags.push(outcome.timeout ? 'UT' : 'UC');
            if (!res.destroyed) res.destroy();
            return;
          }
          if (outcome.failure === 'cancelled') return;
          if (outcome.timeout === 'route') return this.localFailure(ctx, 'UT');
          const failure = outcome.failure;
          lastFailure = FAILURES[failure].flag;
          if (attempt < retries.attempts && retriableFailure(retries, failure) && (!ctx.tee || ctx.tee.replayable)) {
            attempt++;
            await this.backoff(attempt);
            continue;
          }
          if (attempt > 0) ctx.flags.push('URX');
          return this.localFailure(ctx, lastFailure);
        }
      }
    }
  }

  /** Phase 7 for an upgrade: one attempt (Envoy does not retry upgrades), then the tunnel until either side closes. */
  private async tunnel(
    ctx: RequestContext,
    route: Route,
    dest: WeightedDestination,
    cluster: Cluster | undefined,
    path: string,
    headers: HeaderRecord,
    upgrade: PendingUpgrade,
  ): Promise<void> {
    ctx.clusterModel = cluster;
    // An HTTP/1.1 upgrade cannot cross to an HTTP/2 upstream without extended CONNECT (RFC 8441), not built.
    if (cluster?.http2) return this.reply(ctx, 501, 'WebSocket to an HTTP/2 upstream is not supported', 'text/plain', true);
    const picked = this.deps.primary.pick(dest.cluster, cluster?.policy.consistentHash ? this.hashKey(ctx, cluster) : undefined);
    if (!picked.ok) return this.localFailure(ctx, picked.flag);
    if (!(picked.dispatcher instanceof Pool)) {
      picked.onDone({ kind: 'cancelled' });
      return this.reply(ctx, 501, 'WebSocket to an HTTP/2 upstream is not supported', 'text/plain', true);
    }
    ctx.upstreamHost = `${picked.endpoint.address}:${picked.endpoint.port}`;
    ctx.endpoint = picked.endpoint;
    const started = performance.now();
    let open = false;
    const outcome = await proxyUpgrade({
      dispatcher: picked.dispatcher,
      path,
      method: ctx.req.method ?? 'GET',
      headers,
      upgrade,
      res: ctx.res,
      downstream: ctx.downstream,
      idleTimeoutMs: this.limits.upgradeIdleTimeoutMs,
      ...(route.timeoutMs !== undefined ? { routeDeadline: started + route.timeoutMs } : {}),
      commit: (status, upstreamHeaders) => {
        ctx.upstreamTimeMs = performance.now() - started;
        ctx.status = status;
        let out = responseHeaders(upstreamHeaders);
        out = applyHeaderOps(out, dest.headers.response);
        out = applyHeaderOps(out, route.headers.response);
        addCorsHeaders(out, ctx.cors);
        // Hop-by-hop headers never cross a proxy, except the pair that completes this handshake (RFC 9110 §7.8).
        if (status === 101) Object.assign(out, { connection: 'upgrade', upgrade: firstValue(upstreamHeaders.upgrade) ?? upgrade.protocol });
        ctx.res.writeHead(status, out);
      },
      onData: (chunk) => {
        ctx.bytesSent += chunk.length;
      },
      onTearDown: (why) => ctx.flags.push(why === 'idle_timeout' ? 'SI' : 'UC'),
      onOpen: () => {
        open = true;
        this.stats.upgraded++;
      },
    });
    if (open) this.stats.upgraded--;
    switch (outcome.kind) {
      case 'answered':
        picked.onDone({ kind: 'response', status: outcome.status });
        return;
      case 'tunnelled':
        picked.onDone({ kind: 'response', status: 101 });
        return;
      case 'failed':
        picked.onDone({ kind: outcome.failure });
        if (outcome.afterCommit) {
          if (!ctx.downstreamClosed) ctx.flags.push(outcome.failure === 'timeout' ? 'UT' : 'UC');
          if (!ctx.res.destroyed) ctx.res.destroy();
          return;
        }
        if (outcome.failure === 'cancelled') return;
        return this.localFailure(ctx, FAILURES[outcome.failure].flag);
    }
  }

  private backoff(attempt: number): Promise<void> {
    const ms = backoffMs(attempt, this.random());
    return ms < 1 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));
  }

  private hashKey(ctx: RequestContext, cluster: Cluster): string | undefined {
    const h = cluster.policy.consistentHash!;
    const { req } = ctx;
    if (h.httpHeaderName) return firstValue(req.headers[h.httpHeaderName]);
    if (h.useSourceIp) return ctx.remoteAddress;
    if (h.httpQueryParameterName) {
      const q = new URL(req.url ?? '/', 'http://x').searchParams.get(h.httpQueryParameterName);
      return q ?? undefined;
    }
    if (h.httpCookie) {
      const cookie = req.headers.cookie ?? '';
      const m = cookie.split(/;\s*/).find((c) => c.startsWith(`${h.httpCookie!.name}=`));
      return m?.slice(h.httpCookie.name.length + 1);
    }
    return undefined;
  }

  private redirect(ctx: RequestContext, route: Route, authority: string, path: string): void {
    if (route.action.kind !== 'redirect') return;
    const r = route.action.redirect;
    const original = path;
    const [origPath, query] = original.includes('?') ? [original.slice(0, original.indexOf('?')), original.slice(original.indexOf('?'))] : [original, ''];
    let host = r.authority ?? authority;
    if (r.port !== undefined) host = `${host.replace(/:\d+$/, '')}:${r.port}`;
    const location = `${r.scheme ?? 'http'}://${host}${r.uri ?? origPath}${r.uri?.includes('?') ? '' : query}`;
    ctx.res.setHeader('location', location);
    this.reply(ctx, r.redirectCode, '');
  }

  /** The request body, read once for the primary and the shadows. Only requests with a body pay for this closure. */
  private teeBody(ctx: RequestContext, req: IncomingMessage): RequestBodyTee {
    const tee: RequestBodyTee = new RequestBodyTee(req, {
      replayLimit: RETRY_BUFFER_BYTES,
      highWater: PRIMARY_HIGH_WATER,
      idleTimeoutMs: this.limits.bodyIdleTimeoutMs,
      onIdle: () => this.bodyIdle(ctx, tee, req),
    });
    return tee;
  }

  /**
   * The client stopped sending a body it announced: 408 and close when nothing was answered yet (nginx's
   * client_body_timeout; Envoy's stream idle timeout, flag SI), else the connection is cut. The primary attempt
   * and the shadows see their body fail.
   */
  private bodyIdle(ctx: RequestContext, tee: RequestBodyTee, req: IncomingMessage): void {
    this.stats.reject('body_timeout');
    // A request already over (answered and logged) has only shadows still reading its body.
    const over = ctx.holders <= 0;
    if (!over) ctx.flags.push('SI');
    const answered = over || ctx.res.headersSent;
    if (!answered) this.reply(ctx, 408, 'request body timeout', 'text/plain', true);
    tee.fail(new Error('request body idle timeout'));
    if (answered) req.socket.destroy();
  }

  private localFailure(ctx: RequestContext, flag: ResponseFlag): void {
    // Something already answered (a body timeout's 408): the failure it caused upstream is no news.
    if (ctx.res.headersSent) return;
    ctx.flags.push(flag);
    const r = localReply(flag);
    this.reply(ctx, r.status, r.body);
  }

  /** A local answer. `close`, or a request body still arriving, ends the connection after it (as Envoy does). */
  private reply(ctx: RequestContext, status: number, body: string, contentType = 'text/plain', close = false): void {
    const { req, res } = ctx;
    ctx.status = status;
    if (res.headersSent || res.destroyed) return;
    // Nothing more of the body is needed by the primary; shadows (if any) keep reading it.
    ctx.tee?.detachPrimary();
    if (ctx.grpc) {
      this.grpcReply(ctx, status, body);
      return;
    }
    const buf = Buffer.from(body);
    ctx.bytesSent = buf.length;
    const headers: Record<string, string | number> = { 'content-length': buf.length, 'x-request-id': ctx.requestId };
    if (buf.length > 0) headers['content-type'] = contentType;
    addCorsHeaders(headers, ctx.cors);
    // A body nobody reads any more would otherwise keep the connection (Node discards it byte by byte). HTTP/2
    // has no connection header (a stream ends alone; draining is GOAWAY).
    const bodyPending = !req.complete && requestHasBody(req);
    if (req.httpVersionMajor === 1 && (close || bodyPending || this.draining)) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(buf);
  }

  /**
   * A local answer to a gRPC call is a gRPC answer, as Envoy's sendLocalReply makes it: HTTP 200, no message,
   * the HTTP status mapped to a gRPC status and the text as grpc-message (trailers-only in gRPC's terms).
   */
  private grpcReply(ctx: RequestContext, status: number, body: string): void {
    const { res } = ctx;
    ctx.status = 200;
    ctx.grpcStatus = String(httpToGrpcStatus(status));
    ctx.grpcMessage = body;
    ctx.bytesSent = 0;
    const headers: Record<string, string> = { 'content-type': 'application/grpc', 'x-request-id': ctx.requestId };
    addCorsHeaders(headers, ctx.cors);
    res.writeHead(200, headers);
    res.addTrailers({ 'grpc-status': ctx.grpcStatus, 'grpc-message': encodeMessage(body) });
    res.end();
  }

  // 8. log
  private finish(ctx: RequestContext): void {
    const { req } = ctx;
    if (ctx.downstreamClosed) ctx.flags.push('DC');
    const flags = formatFlags(ctx.flags);
    // An answer that never completed is compared as "no answer", with the reason.
    ctx.recorder?.fail(ctx.flags.length > 0 ? formatFlags(ctx.flags) : `status ${ctx.status}`);
    const durationMs = performance.now() - ctx.started;
    const istio = this.deps.metrics.istio;
    const dest = istio.labelsFor(ctx.clusterModel, ctx.endpoint);
    // A gRPC call's series carry request_protocol="grpc" and its grpc-status (Istio's standard metrics).
    istio.record(ctx.grpc ? istio.grpcLabels(dest, ctx.grpcStatus ?? '') : dest, ctx.status, flags, durationMs, ctx.tee?.bytes ?? 0, ctx.bytesSent);
    const entry = {
      start_time: isoTime(ctx.startMs),
      method: req.method ?? '',
      path: ctx.path || (req.url ?? ''),
      protocol: `HTTP/${req.httpVersion}`,
      response_code: ctx.status,
      response_flags: flags,
      bytes_received: ctx.tee?.bytes ?? 0,
      bytes_sent: ctx.bytesSent,
      duration_ms: Math.round(durationMs * 1000) / 1000,
      route_name: ctx.routeName || '-',
      upstream_cluster: ctx.cluster || '-',
      upstream_subset: ctx.subset || '-',
      upstream_host: ctx.upstreamHost || '-',
      authority: ctx.authority || (req.headers.host ?? '-'),
      request_id: ctx.requestId,
      downstream_remote_address: `${ctx.remoteAddress ?? ''}:${ctx.remotePort ?? ''}`,
      user_agent: req.headers['user-agent'] ?? '-',
      x_forwarded_for: firstValue(req.headers['x-forwarded-for']) ?? '-',
      mirrors: ctx.mirrors.map(mirrorEntry),
      // Always present, undefined when not applying: one object shape for every line (JSON leaves them out).
      upstream_service_time_ms: ctx.upstreamTimeMs !== undefined ? Math.round(ctx.upstreamTimeMs * 1000) / 1000 : undefined,
      grpc_status: ctx.grpc ? (ctx.grpcStatus ?? '-') : undefined,
      grpc_message: ctx.grpc ? (ctx.grpcMessage ?? '-') : undefined,
    };
    this.deps.accessLog.write(entry);
    requestEnded(req.socket, performance.now());
    ctx.release();
    this.inFlight--;
    if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}

/** A mirror's state as the access log shows it (module-level: no closure per request). */
const mirrorEntry = (m: ShadowHandle): { cluster: string; outcome: string } => ({ cluster: m.cluster, outcome: m.outcome });

/** ISO 8601 text of an epoch millisecond, made once per millisecond (several requests share one under load). */
let isoMs = -1;
let isoText = '';
function isoTime(ms: number): string {
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

/** The request came over a connection Shadowgate decrypted (a port terminating TLS; HTTP/2 sessions included). */
function arrivedOverTls(req: IncomingMessage): boolean {
  try {
    return (req.socket as { encrypted?: boolean } | null)?.encrypted === true;
  } catch {
    // An HTTP/2 stream whose session is gone has no socket to ask.
    return false;
  }
}
