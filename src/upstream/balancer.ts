// Load balancing over the endpoints of one cluster: one small interface, one implementation per policy.
import type { LbPolicy } from '../config/model.js';
import { hashString, unitHash } from './hash.js';
import type { Host } from './host.js';

export interface Balancer {
  /** Chooses among `hosts` (never empty: the caller filters out unavailable hosts first). */
  choose(hosts: readonly Host[], hashKey: string | undefined): Host;
}

/** Picks by weight; `r` in [0, 1). */
function weighted(hosts: readonly Host[], weightOf: (h: Host) => number, r: number): Host {
  let total = 0;
  for (const h of hosts) total += weightOf(h);
  let x = r * total;
  for (const h of hosts) {
    x -= weightOf(h);
    if (x < 0) return h;
  }
  // Floating-point leftovers land on the last host rather than nowhere.
  return hosts[hosts.length - 1]!;
}

const weightOf = (h: Host): number => h.weight;

/**
 * Envoy's least-request: with equal weights, power of two choices (two random hosts, possibly the same,
 * the one with fewer active requests wins); with unequal weights Envoy schedules by
 * weight / (active + 1), which we approximate with a weighted random draw over those same values.
 */
export class LeastRequest implements Balancer {
  constructor(
    private readonly random: () => number,
    private readonly equalWeights: boolean,
  ) {}

  choose(hosts: readonly Host[]): Host {
    if (hosts.length === 1) return hosts[0]!;
    if (!this.equalWeights) return weighted(hosts, (h) => h.weight / (h.active + 1), this.random());
    const a = hosts[Math.floor(this.random() * hosts.length)]!;
    const b = hosts[Math.floor(this.random() * hosts.length)]!;
    return b.active < a.active ? b : a;
  }
}

/**
 * Smooth weighted round robin (nginx's): each pick adds every host's weight to its credit, takes the
 * richest and charges it the total. Equal weights give plain rotation; unequal ones interleave instead of
 * sending bursts, which is what Envoy's EDF scheduler achieves too.
 */
export class RoundRobin implements Balancer {
  private readonly credit = new WeakMap<Host, number>();

  choose(hosts: readonly Host[]): Host {
    let best: Host | undefined;
    let bestCredit = Number.NEGATIVE_INFINITY;
    let total = 0;
    for (const h of hosts) {
      const c = (this.credit.get(h) ?? 0) + h.weight;
      this.credit.set(h, c);
      total += h.weight;
      if (c > bestCredit) {
        best = h;
        bestCredit = c;
      }
    }
    this.credit.set(best!, bestCredit - total);
    return best!;
  }
}

export class RandomBalancer implements Balancer {
  constructor(private readonly random: () => number) {}

  choose(hosts: readonly Host[]): Host {
    return weighted(hosts, weightOf, this.random());
  }
}

/**
 * Weighted rendezvous hashing: every (key, host) pair gets a score, the best score wins. Nothing to
 * rebuild when endpoints come and go, and only the keys of a vanished host move. Without a key, falls
 * back to the cluster's default balancer, as the brief for Istio's consistentHash asks.
 */
export class ConsistentHash implements Balancer {
  constructor(private readonly fallback: Balancer) {}

  choose(hosts: readonly Host[], hashKey: string | undefined): Host {
    if (hashKey === undefined) return this.fallback.choose(hosts, undefined);
    const k = hashString(hashKey);
    let best = hosts[0]!;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const h of hosts) {
      // -w / ln(u) is the weighted rendezvous score (Schindelhauer & Schomaker); ln(u) < 0 for u in (0, 1).
      const score = -h.weight / Math.log(unitHash(k, h.seed));
      if (score > bestScore) {
        best = h;
        bestScore = score;
      }
    }
    return best;
  }
}

export function createBalancer(policy: LbPolicy, random: () => number, weights: readonly number[]): Balancer {
  const equalWeights = weights.every((w) => w === weights[0]);
  switch (policy) {
    case 'LEAST_REQUEST':
      return new LeastRequest(random, equalWeights);
    // PASSTHROUGH means "the original destination" in Envoy; a gateway with resolved endpoints has none,
    // so it rotates over them like ROUND_ROBIN.
    case 'ROUND_ROBIN':
    case 'PASSTHROUGH':
      return new RoundRobin();
    case 'RANDOM':
      return new RandomBalancer(random);
    case 'CONSISTENT_HASH':
      return new ConsistentHash(new LeastRequest(random, equalWeights));
  }
}
