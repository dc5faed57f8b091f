/**
 * Password hashing with scrypt from node:crypto. Format:
 *   $scrypt$N=16384,r=8,p=1$<salt b64url>$<hash b64url>
 * Verification always runs one scrypt, even for unknown users (see DUMMY_HASH), so timing does not
 * tell which usernames exist.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const scrypt = (pw: string, salt: Buffer, len: number, opts: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) =>
    scryptCb(pw, salt, len, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );

const DEFAULTS = { N: 16384, r: 8, p: 1 };
const KEY_LEN = 32;

export async function hashPassword(password: string, params = DEFAULTS): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LEN, { ...params, maxmem: 256 * params.N * params.r });
  return `$scrypt$N=${params.N},r=${params.r},p=${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** A valid hash of a random password, compared against when the user does not exist. */
export const DUMMY_HASH = '$scrypt$N=16384,r=8,p=1$c29tZS1zYWx0LXZhbHVl$8sS9Qk1pY3bqZqgkqIuY3r1Zq3wqk8vC7m1mRzN1c0E';

export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const m = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored ?? DUMMY_HASH);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N > 1 << 20 || r > 32 || p > 16) return false;
  const expected = Buffer.from(m[5]!, 'base64url');
  const key = await scrypt(password, Buffer.from(m[4]!, 'base64url'), expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return stored !== undefined && expected.length === key.length && timingSafeEqual(expected, key);
}
