// The load bench's scenarios: which peer, which shadow, which request.

export type PeerKind = 'direct' | 'nginx' | 'nginx-auto' | 'bare' | 'shadowgate';
export type ShadowKind = 'none' | 'healthy' | 'slow' | 'hung' | 'dead';

export interface Scenario {
  id: string;
  label: string;
  peer: PeerKind;
  shadow: ShadowKind;
  method: 'GET' | 'POST';
  /** Shadowgate: comparison on (a SQLite store) instead of `--store off`. */
  compare?: boolean;
  /** Shadowgate: `--workers N` (only when the CLI has the option). */
  workers?: number;
}

const SHADOW_LABEL: Record<ShadowKind, string> = {
  none: '',
  healthy: 'healthy shadow',
  slow: 'shadow 200 ms slow',
  hung: 'shadow hung',
  dead: 'shadow dead',
};

/** Every scenario, in run order. `workersSupported`: Shadowgate has `--workers` (then its rows pin `--workers 1`). */
export function allScenarios(workersSupported: boolean): Scenario[] {
  const w1 = workersSupported ? { workers: 1 } : {};
  const out: Scenario[] = [{ id: 'direct', label: 'direct to the upstream', peer: 'direct', shadow: 'none', method: 'GET' }];
  out.push({ id: 'nginx-proxy', label: 'nginx proxy_pass, no mirror (1 worker)', peer: 'nginx', shadow: 'none', method: 'GET' });
  for (const shadow of ['healthy', 'slow', 'hung', 'dead'] as const)
    out.push({ id: `nginx-mirror-${shadow}`, label: `nginx mirror 100%, ${SHADOW_LABEL[shadow]} (1 worker)`, peer: 'nginx', shadow, method: 'GET' });
  out.push({ id: 'nginx-mirror-post', label: 'nginx mirror 100%, healthy shadow, POST 16 KiB (1 worker)', peer: 'nginx', shadow: 'healthy', method: 'POST' });
  out.push({
    id: 'nginx-auto-mirror-healthy',
    label: 'nginx mirror 100%, healthy shadow (worker_processes auto)',
    peer: 'nginx-auto',
    shadow: 'healthy',
    method: 'GET',
  });
  for (const shadow of ['healthy', 'slow', 'hung', 'dead'] as const)
    out.push({ id: `bare-${shadow}`, label: `bare Node mirror, ${SHADOW_LABEL[shadow]}`, peer: 'bare', shadow, method: 'GET' });
  out.push({ id: 'bare-post', label: 'bare Node mirror, healthy shadow, POST 16 KiB', peer: 'bare', shadow: 'healthy', method: 'POST' });
  const sgSuffix = workersSupported ? ' (1 worker)' : '';
  for (const shadow of ['healthy', 'slow', 'hung', 'dead'] as const)
    out.push({ id: `shadowgate-${shadow}`, label: `Shadowgate, ${SHADOW_LABEL[shadow]}${sgSuffix}`, peer: 'shadowgate', shadow, method: 'GET', ...w1 });
  out.push({
    id: 'shadowgate-post',
    label: `Shadowgate, healthy shadow, POST 16 KiB${sgSuffix}`,
    peer: 'shadowgate',
    shadow: 'healthy',
    method: 'POST',
    ...w1,
  });
  out.push({
    id: 'shadowgate-compare',
    label: `Shadowgate, healthy shadow, comparison on (default maxPerSecond)${sgSuffix}`,
    peer: 'shadowgate',
    shadow: 'healthy',
    method: 'GET',
    compare: true,
    ...w1,
  });
  if (workersSupported)
    out.push({
      id: 'shadowgate-w2-healthy',
      label: 'Shadowgate, healthy shadow, --workers 2',
      peer: 'shadowgate',
      shadow: 'healthy',
      method: 'GET',
      workers: 2,
    });
  return out;
}

/** `--scenarios a,b`: exact ids, or a prefix ending at a dash boundary (`nginx` = every nginx-* row, `memory` = the RSS run). */
export function selects(filter: string[] | undefined, id: string): boolean {
  return !filter || filter.some((f) => id === f || id.startsWith(`${f}-`));
}
