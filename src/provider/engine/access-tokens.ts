/**
 * Access tokens (protocols.md §5.11): a JWT signed with the provider key (`kid` and `typ: at+jwt`,
 * RFC 9068, in the header; claims as CIAM's: sub, aud, nbf, scope, iss, exp, iat, jti) or, for a client with
 * `accessTokenFormat: opaque`, 32 hex characters (EIAM). Either way a record `at:{key}` is kept for
 * the token's life so that revocation, logout and refresh rotation invalidate it at userinfo and
 * introspection: the key is `j:{jti}` for a JWT and `o:{sha256(token)}` for an opaque token.
 */
import { randomUUID } from 'node:crypto';
import type { KvStore } from '../../store/store.js';
import { epochSeconds, type Clock } from '../../clock.js';
import type { KeyStore } from '../../crypto/keystore.js';
import { hashHandle, randomHex32 } from '../../crypto/secrets.js';
import type { Client } from './clients.js';

export interface AccessRecord {
  readonly cid: string;
  /** user id, or the client id for client_credentials */
  readonly sub: string;
  /** set when the token acts for a user */
  readonly uid?: string;
  readonly scope: readonly string[];
  readonly iss: string;
  readonly iat: number;
  readonly exp: number;
  readonly sid?: string;
  readonly fid?: string;
  readonly fmt: 'jwt' | 'opaque';
}

export interface MintedAccessToken {
  readonly token: string;
  readonly key: string;
  readonly record: AccessRecord;
}

/** RFC 9068 §2.1 JWT access token header `typ`; id tokens are `JWT`, logout tokens `logout+jwt`. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

const OPAQUE = /^[0-9a-f]{32}$/;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export class AccessTokens {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
    private readonly keys: KeyStore,
    readonly ttlSeconds: number,
    /** every issuer this provider signs as (one per dialect family) */
    private readonly issuers: () => string[],
  ) {}

  /** Signs (or draws) a token; the caller stores it with `write` in its batch. */
  async mint(p: { client: Client; issuer: string; sub: string; uid?: string; scope: readonly string[]; sid?: string; fid?: string }): Promise<MintedAccessToken> {
    const iat = epochSeconds(this.clock);
    const exp = iat + this.ttlSeconds;
    const base = {
      cid: p.client.id,
      sub: p.sub,
      ...(p.uid !== undefined ? { uid: p.uid } : {}),
      scope: [...p.scope],
      iss: p.issuer,
      iat,
      exp,
      ...(p.sid !== undefined ? { sid: p.sid } : {}),
      ...(p.fid !== undefined ? { fid: p.fid } : {}),
    };
    if (p.client.accessTokenFormat === 'opaque') {
      const token = randomHex32();
      return { token, key: `o:${hashHandle(token)}`, record: { ...base, fmt: 'opaque' } };
    }
    const jti = randomUUID();
    // typ at+jwt (RFC 9068 §2.1): the same key signs id and logout tokens; the header keeps the kinds apart.
    const token = await this.keys.sign({ sub: p.sub, aud: p.client.id, nbf: iat, scope: [...p.scope], iss: p.issuer, exp, iat, jti }, ACCESS_TOKEN_TYP);
    return { token, key: `j:${jti}`, record: { ...base, fmt: 'jwt' } };
  }

  write(minted: MintedAccessToken): Promise<void> {
    return this.store.set(`at:${minted.key}`, JSON.stringify(minted.record), this.ttlSeconds);
  }

  /**
   * The store key a presented token maps to, or null when it is not one of ours. A JWT must carry
   * a valid signature by our keys (so `alg: none` and forgeries are refused); with
   * `ignoreExpiry` an expired one still maps (revoking an expired token is a no-op anyway).
   */
  async keyOf(token: string, ignoreExpiry = false): Promise<string | null> {
    if (OPAQUE.test(token)) return `o:${hashHandle(token)}`;
    if (token.length > 8192 || !JWT_SHAPE.test(token)) return null;
    try {
      const payload = await this.keys.verify(token, {
        typ: ACCESS_TOKEN_TYP,
        issuer: this.issuers(),
        currentDate: new Date(this.clock.now()),
        ...(ignoreExpiry ? { clockTolerance: Number.MAX_SAFE_INTEGER } : {}),
      });
      return typeof payload.jti === 'string' ? `j:${payload.jti}` : null;
    } catch {
      return null;
    }
  }

  /** The live record of a presented access token, or null (unknown, forged, expired, revoked). */
  async validate(token: string): Promise<{ key: string; record: AccessRecord } | null> {
    const key = await this.keyOf(token);
    if (!key) return null;
    const raw = await this.store.get(`at:${key}`);
    if (!raw) return null;
    const record = JSON.parse(raw) as AccessRecord;
    return record.exp > epochSeconds(this.clock) ? { key, record } : null;
  }

  async get(key: string): Promise<AccessRecord | null> {
    const raw = await this.store.get(`at:${key}`);
    return raw ? (JSON.parse(raw) as AccessRecord) : null;
  }

  revoke(key: string): Promise<void> {
    return this.store.del(`at:${key}`);
  }
}
