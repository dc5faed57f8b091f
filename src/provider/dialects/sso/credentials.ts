/**
 * The temporary credentials `/sso/check_token/` hands out with an access token (protocols.md §3
 * Q3, §5.10): an `access_key` / `secret_key` pair per access token, created on first use and
 * returned unchanged afterwards, living exactly as long as that token. The record is keyed by the
 * token's store key (`ssocred:{at key}`) with the token's remaining lifetime as its TTL; it is only
 * ever read through a live access token (check_token validates first), so a revoked or expired
 * token takes its pair with it. The secret is sealed (AES-256-GCM, crypto/seal.ts) under a key
 * derived from the access token itself, which the store never holds: a store dump reveals no
 * secret_key.
 */
import { randomBytes } from 'node:crypto';
import type { KvStore } from '../../../store/store.js';
import { epochSeconds, type Clock } from '../../../clock.js';
import { randomHandle } from '../../../crypto/secrets.js';
import { deriveKey, seal, unseal } from '../../../crypto/seal.js';

export interface TemporaryCredentials {
  readonly accessKey: string;
  readonly secretKey: string;
}

interface Stored {
  readonly ak: string;
  /** sealed secret_key, AAD = the access key */
  readonly sk: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** 20 upper-case characters, the shape of a QingCloud access key id (an identifier, 100 bits). */
function newAccessKey(): string {
  return [...randomBytes(20)].map((b) => BASE32[b & 31]).join('');
}

const sealKey = (accessToken: string) => deriveKey(accessToken, 'menshen sso secret_key');

export class SsoCredentials {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
  ) {}

  /** The pair of a live access token (its store key and expiry), created on first use. */
  async forToken(accessToken: string, atKey: string, exp: number): Promise<TemporaryCredentials> {
    const key = `ssocred:${atKey}`;
    let raw = await this.store.get(key);
    if (!raw) {
      const accessKey = newAccessKey();
      const secretKey = randomHandle(30);
      const stored: Stored = { ak: accessKey, sk: seal(secretKey, sealKey(accessToken), accessKey) };
      // Concurrent first calls agree on one pair: the first writer wins, the others read it.
      if (await this.store.setIfAbsent(key, JSON.stringify(stored), Math.max(1, exp - epochSeconds(this.clock)))) return { accessKey, secretKey };
      raw = await this.store.get(key);
      if (!raw) throw new Error('temporary credentials vanished while being created');
    }
    const stored = JSON.parse(raw) as Stored;
    const secretKey = unseal(stored.sk, sealKey(accessToken), stored.ak);
    if (secretKey === null) throw new Error('temporary credentials do not open with this access token');
    return { accessKey: stored.ak, secretKey };
  }
}
