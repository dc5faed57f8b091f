/**
 * AES-256-GCM sealing under a key derived (HKDF-SHA256) from a per-object secret that never
 * reaches the store: the gateway seals each session with the secret carried in its cookie.
 * Output: base64url(iv(12) | tag(16) | ciphertext).
 */
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { randomBuffer } from './secrets.js';

export function deriveKey(secret: string, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info, 32));
}

export function seal(plaintext: string, key: Buffer, aad = ''): string {
  const iv = randomBuffer(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (aad) cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url');
}

/** The plaintext, or null when the box was tampered with or sealed under another key. */
export function unseal(box: string, key: Buffer, aad = ''): string | null {
  try {
    const raw = Buffer.from(box, 'base64url');
    if (raw.length < 28) return null;
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    if (aad) decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}
