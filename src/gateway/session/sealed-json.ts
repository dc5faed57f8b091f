/**
 * A session value as stored: JSON, deflated, then AES-256-GCM sealed under the per-session key
 * (the format of crypto/seal.ts: base64url(iv(12) | tag(16) | ciphertext), with the session id as
 * associated data). Deflating first keeps a session with RS256 access and id tokens under 2 KB in
 * Redis (goal ≤ 3 KB); inflating ~1.5 KB costs microseconds on the hot path. seal.ts takes text,
 * this takes the deflated bytes.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomBuffer } from '../../crypto/secrets.js';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/** Far above any real session: a tampered box cannot make inflate allocate without bound. */
const MAX_INFLATED_BYTES = 64 * 1024;
/**
 * Output chunk of inflateRawSync, a fresh native buffer per call: Node's default is 16 KB; a ~2 KB
 * session fits in 4 KB. 50,000 inflates in a loop left +29 MB of RSS behind with the default,
 * +11 MB with 4 KB (the gateway unseals once per session it has not seen, see store.ts).
 */
const INFLATE_CHUNK_BYTES = 4 * 1024;

/**
 * Characters of a box that encode its IV (12 random bytes) and GCM tag (16): ceil(28 * 4 / 3).
 * Every sealJson draws a fresh IV, so a rewritten value never starts like the one it replaced.
 */
export const SEAL_HEADER_CHARS = Math.ceil(((12 + 16) * 4) / 3);

/**
 * The IV+tag prefix of a box, as a string of its own (a plain slice would keep the whole box
 * alive in V8, which shares the parent of a sliced string): what a cache of unsealed values
 * remembers a box by (session/store.ts).
 */
export function sealHeader(box: string): string {
  return Buffer.from(box.slice(0, SEAL_HEADER_CHARS), 'latin1').toString('latin1');
}

export function sealJson(value: unknown, key: Buffer, aad: string): string {
  const iv = randomBuffer(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(deflateRawSync(JSON.stringify(value))), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url');
}

/** The value, or null when the box was tampered with, sealed under another key, or is not ours. */
export function unsealJson(box: string, key: Buffer, aad: string): unknown {
  try {
    const raw = Buffer.from(box, 'base64url');
    if (raw.length < 28) return null;
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(raw.subarray(12, 28));
    const deflated = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
    return JSON.parse(inflateRawSync(deflated, { maxOutputLength: MAX_INFLATED_BYTES, chunkSize: INFLATE_CHUNK_BYTES }).toString('utf8')) as unknown;
  } catch {
    return null;
  }
}
