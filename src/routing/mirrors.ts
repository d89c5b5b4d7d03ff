// Which mirrors fire for a request. One random value per request drives every mirror decision.

const NONE: readonly never[] = Object.freeze([]);

/**
 * Envoy draws one random value per request and compares it against every mirror's fraction, so
 * with the same value a 10% mirror's requests are a subset of a 20% mirror's. A mirror fires iff
 * `random * 100 < percentage`: 0% never fires, 100% always does. Order is kept.
 */
export function selectMirrors<T extends { percentage: number }>(mirrors: readonly T[], random: number): readonly T[] {
  if (mirrors.length === 0) return NONE;
  const roll = random * 100;
  let out: T[] | undefined;
  for (const m of mirrors) {
    if (!(roll < m.percentage)) continue;
    if (out === undefined) out = [];
    out.push(m);
  }
  return out ?? NONE;
}
