// Splitting between destinations by relative weight (Envoy weighted_clusters); randomness passed in.

/**
 * Envoy scales one random value to the total weight and walks the cumulative weights, taking the
 * first destination whose range [begin, end) holds it; zero-weight entries are never chosen.
 * `random` is in [0, 1). undefined only for an empty list.
 */
export function pickDestination<T extends { weight: number }>(destinations: readonly T[], random: number): T | undefined {
  if (destinations.length <= 1) return destinations[0];
  let total = 0;
  for (const d of destinations) total += Math.max(d.weight, 0);
  // The model guarantees weight > 0; if every weight is 0 anyway, behave as if all were equal.
  if (!(total > 0)) {
    return destinations[Math.min(destinations.length - 1, Math.floor(clamp(random) * destinations.length))];
  }
  const target = clamp(random) * total;
  let end = 0;
  let last: T | undefined;
  for (const d of destinations) {
    if (!(d.weight > 0)) continue;
    end += d.weight;
    last = d;
    if (target < end) return d;
  }
  // Only reachable through floating-point rounding at the very top of the range.
  return last;
}

function clamp(r: number): number {
  return r >= 0 && r < 1 ? r : r >= 1 ? 1 - Number.EPSILON : 0;
}
