// Small, fast, non-cryptographic 32-bit hashes for consistent-hash balancing.

/** murmur3's finalizer: spreads every input bit over the output. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over UTF-16 code units, then mixed (FNV alone has weak low bits). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** Combines a key hash with an endpoint seed into a uniform value in (0, 1). */
export function unitHash(keyHash: number, seed: number): number {
  const h = mix32((Math.imul(keyHash ^ seed, 0x9e3779b1) + seed) | 0);
  return (h + 0.5) / 4294967296;
}
