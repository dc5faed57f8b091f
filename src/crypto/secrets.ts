/** Random handles, hashes for storing them at rest, and constant-time comparison. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A random URL-safe handle with `bytes` of entropy (default 32 = 256 bits). */
export function randomHandle(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** 32 lowercase hex chars: the EIAM opaque token shape (128 bits). */
export function randomHex32(): string {
  return randomBytes(16).toString('hex');
}

/** SHA-256 of a handle, base64url: the only form codes and tokens take in the store. */
export function hashHandle(handle: string): string {
  return createHash('sha256').update(handle).digest('base64url');
}

/** Constant-time string equality (lengths are hashed first so they do not leak either). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
