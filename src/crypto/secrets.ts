/** Random handles, hashes for storing them at rest, and constant-time comparison. */
import { hash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

/*
 * Random bytes come from a pool the CSPRNG refills 4 KiB at a time, as node's own randomUUID does:
 * one randomFillSync call costs ~2.7 µs on the benchmark VM whatever its size (16 bytes or 4 KiB),
 * and a token response draws three or four values. Every byte is handed out once.
 */
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** The offset of `n` fresh bytes in the pool (n <= POOL_SIZE). */
function draw(n: number): number {
  if (poolOffset + n > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += n;
  return at;
}

/** `n` random bytes in a Buffer of their own (IVs, salts). */
export function randomBuffer(n: number): Buffer {
  if (n > POOL_SIZE) return randomBytes(n);
  const at = draw(n);
  return Buffer.from(pool.subarray(at, at + n));
}

/** A random URL-safe handle with `bytes` of entropy (default 32 = 256 bits). */
export function randomHandle(bytes = 32): string {
  if (bytes > POOL_SIZE) return randomBytes(bytes).toString('base64url');
  const at = draw(bytes);
  return pool.toString('base64url', at, at + bytes);
}

/** 32 lowercase hex chars: the EIAM opaque token shape (128 bits). */
export function randomHex32(): string {
  const at = draw(16);
  return pool.toString('hex', at, at + 16);
}

/** SHA-256 of a handle, base64url: the only form codes and tokens take in the store. */
export function hashHandle(handle: string): string {
  return hash('sha256', handle, 'base64url');
}

/** Constant-time string equality (lengths are hashed first so they do not leak either). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(hash('sha256', a, 'buffer'), hash('sha256', b, 'buffer'));
}
