// Test harness: reads a gateway's /metrics (Prometheus text format) into samples, and sums them by labels.
import assert from 'node:assert/strict';
import { request } from 'undici';
import { client } from './gateway.js';
import { WAIT_MS, type WaitOptions, waitFor } from './wait.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition (what tests need: names, labels, values; comments skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const pair = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
    assert.ok(name, `bad sample line: ${line}`);
    let i = name.length;
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        pair.lastIndex = i;
        const m = pair.exec(line);
        assert.ok(m, `bad labels at ${i} in: ${line}`);
        labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        i = pair.lastIndex;
      }
      i++;
    }
    const value = line.slice(i).trim().split(/\s+/)[0]!;
    samples.push({ name, labels, value: value === '+Inf' ? Number.POSITIVE_INFINITY : Number(value) });
  }
  return samples;
}

export function select(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

export function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return select(samples, name, labels).reduce((n, s) => n + s.value, 0);
}

/** GET /metrics of an admin listener (`HOST:PORT`). */
export async function scrape(adminAddress: string): Promise<Sample[]> {
  const res = await request(`http://${adminAddress}/metrics`, { dispatcher: client });
  const body = await res.body.text();
  assert.equal(res.statusCode, 200);
  return parseExposition(body);
}

/**
 * Scrapes until `check` holds (counters settle once shadows finish); returns those samples. Each scrape follows the
 * one before (its round trip paces it); the deadline is a safety net (harness/wait.ts).
 */
export function scrapeUntil(adminAddress: string, what: string, check: (s: Sample[]) => boolean, timeoutMs = WAIT_MS): Promise<Sample[]> {
  return waitFor(() => scrape(adminAddress), check, { what, timeoutMs });
}

/**
 * Scrapes `url` (a Prometheus text endpoint: `http://HOST:PORT/metrics`, or `HOST:PORT` for an admin listener)
 * until `predicate` accepts the sum of `name`'s samples (with `labels`); resolves with that value. Each scrape waits
 * for the one before (an HTTP round trip paces it); `on` lets an in-process event trigger the next instead.
 */
export function untilMetric(
  url: string,
  name: string,
  predicate: (value: number) => boolean,
  opts: WaitOptions & { labels?: Record<string, string> } = {},
): Promise<number> {
  const target = /^https?:\/\//.test(url) ? url : `http://${url}/metrics`;
  const labels = opts.labels ?? {};
  const read = async () => {
    const res = await request(target, { dispatcher: client });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET ${target}: ${res.statusCode} ${text.slice(0, 200)}`);
    return total(parseExposition(text), name, labels);
  };
  const shown = Object.keys(labels).length ? `${name}${JSON.stringify(labels)}` : name;
  return waitFor(read, predicate, { ...opts, what: opts.what ?? `${shown} at ${target} to satisfy ${predicate.toString()}` });
}
