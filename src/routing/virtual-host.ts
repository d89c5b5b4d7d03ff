// A VirtualHost compiled once per snapshot: its routes in order, first match wins.

import type { VirtualHost } from '../config/model.js';
import { type CompiledRoute, compiledRoute, type RouteMatchResult } from './compiled-route.js';
import { MatchInput, type RequestFacts } from './facts.js';

export class CompiledVirtualHost {
  readonly source: VirtualHost;
  readonly routes: readonly CompiledRoute[];

  constructor(vh: VirtualHost) {
    this.source = vh;
    this.routes = vh.routes.map(compiledRoute);
  }

  get host(): string {
    return this.source.host;
  }

  get port(): number {
    return this.source.port;
  }

  /** The first route whose any match holds (Envoy: routes in order, first match wins). */
  match(req: RequestFacts): RouteMatchResult | undefined {
    const input = new MatchInput(req);
    for (const r of this.routes) {
      const hit = r.match(input);
      if (hit) return hit;
    }
    return undefined;
  }
}
