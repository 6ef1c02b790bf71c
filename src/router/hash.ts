/**
 * MurmurHash3, x86 32-bit variant, over the UTF-8 bytes of `key` — the hash Unleash
 * uses for stickiness, so kanari's buckets agree with it for the same key and seed.
 * Every request hashes its key (for its bucket, and for the key tracker), so an ASCII key,
 * whose UTF-8 bytes are its char codes, is read in place instead of encoded into a Buffer.
 */
export function murmur3(key: string, seed = 0): number {
  const len = key.length;
  for (let i = 0; i < len; i++) if (key.charCodeAt(i) > 0x7f) return murmur3Bytes(Buffer.from(key, 'utf8'), seed);
  return murmur3Of(len, (i) => key.charCodeAt(i), seed);
}

/** MurmurHash3 of bytes as they are. */
export function murmur3Bytes(bytes: Uint8Array, seed = 0): number {
  return murmur3Of(bytes.length, (i) => bytes[i]!, seed);
}

function murmur3Of(len: number, byte: (i: number) => number, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = len - (len % 4);
  for (let i = 0; i < blocks; i += 4) {
    let k = byte(i) | (byte(i + 1) << 8) | (byte(i + 2) << 16) | (byte(i + 3) << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = len & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= byte(blocks + 2) << 16;
    if (tail >= 2) k ^= byte(blocks + 1) << 8;
    k ^= byte(blocks);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
