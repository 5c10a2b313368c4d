/**
 * A seeded pseudo-random number generator: returns numbers in [0, 1), the same sequence for the same seed on every
 * machine. It is mulberry32 (Tommy Ettinger's 32-bit generator, public domain), good enough for shuffling answer
 * choices and drawing prompt words; not for cryptography.
 */
export function createSeededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A 32-bit hash of `text` (FNV-1a over its UTF-16 code units), to derive a seed from a string such as a question. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A shuffled copy of `items` (Fisher-Yates), drawn from `random` (numbers in [0, 1)). `items` is left as it is. */
export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const result = [...items];
  for (let index = result.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [result[index], result[other]] = [result[other]!, result[index]!];
  }
  return result;
}
