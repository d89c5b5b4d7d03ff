// Test harness for the diff explorer: an admin source that answers from the contract's fixtures
// (test/fixtures/admin-api/), and a headless Debian Chromium driven by playwright-core (undefined when absent).
import { existsSync, readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import type { AdminSource } from '../../src/admin/index.js';

export const CHROMIUM = process.env.SHADOWGATE_CHROMIUM ?? '/usr/bin/chromium';
const FIXTURES = new URL('../../../test/fixtures/admin-api/', import.meta.url);

export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as T;
}

interface SampleLike {
  id: string;
  diffs: { field: string }[];
}

/** The admin API of docs/admin-api.md, answered from fixture files; ids outside [\w-] are a 400 as the contract says. */
export function fixtureSource(onCall: (call: string) => void = () => {}): AdminSource {
  const bad = (v: string | null) => v !== null && !/^[\w-]+$/.test(v);
  return {
    isReady: () => true,
    configDump: () => ({}),
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    async api({ path, query: q }) {
      const answer = answerOf(path, q);
      return answer === undefined ? undefined : { status: 200, body: JSON.stringify(answer) };
    },
  };

  function answerOf(path: string, q: URLSearchParams): unknown {
    onCall(`${path}?${q}`);
    const run = q.get('run');
    const endpoint = q.get('endpoint');
    if (bad(run) || bad(endpoint)) return undefined;
    const read = <T>(name: string): T | undefined => {
      try {
        return fixture<T>(name);
      } catch {
        return undefined;
      }
    };
    switch (path) {
      case 'runs':
        return read('runs.json');
      case 'endpoints':
        return read(`endpoints.${run}.json`);
      case 'fields':
        return read(`fields.${run}.${endpoint}.json`);
      case 'traffic':
        return read('traffic.json');
      case 'samples': {
        const all = read<{ samples: SampleLike[] }>(`samples.${run}.${endpoint}.json`)?.samples ?? [];
        const field = q.get('field');
        let list = field ? all.filter((s) => s.diffs.some((d) => d.field === field)) : all;
        const before = q.get('before');
        if (before) list = list.slice(list.findIndex((s) => s.id === before) + 1 || list.length);
        return { samples: list.slice(0, Number(q.get('limit') ?? 20)) };
      }
      default:
        return undefined;
    }
  }
}

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Debian's Chromium, or undefined (with the reason) when it is not installed here. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<{ browser?: Browser; skip?: string }> {
  if (!existsSync(CHROMIUM)) return { skip: `no Chromium at ${CHROMIUM}: apt-get install -y chromium (CI's .ci/run does)` };
  const { chromium } = await import('playwright-core');
  return { browser: await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_FLAGS, ...extraArgs], headless: true }) };
}
