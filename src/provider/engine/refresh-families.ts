/**
 * Refresh tokens and their families (protocols.md §5.3). A family starts at a code exchange or a
 * password grant and lives `refreshTtl` seconds from then (absolute). Every use rotates: the
 * presented token is taken (one-time), a new one is issued, and the previous access token dies with
 * it (EIAM 1442/62557). Presenting an already-rotated token is reuse: the whole family is revoked
 * (OAuth 2.0 Security BCP §4.14.2).
 *
 * Keys (handles only as hashes):
 *   rt:{hash}      -> RefreshRecord (the family's current token)
 *   rtused:{hash}  -> family id (rotated-out tokens, for reuse detection)
 *   rtf:{fid}      -> FamilyState: the current token hash and access key, or `revoked`
 */
import type { KvStore } from '../../store/store.js';
import { epochSeconds, type Clock } from '../../clock.js';
import { hashHandle } from '../../crypto/secrets.js';
import { ProviderError } from './errors.js';
import type { AccessTokens } from './access-tokens.js';

export interface RefreshRecord {
  readonly fid: string;
  readonly cid: string;
  readonly uid: string;
  readonly scope: readonly string[];
  /** provider SSO session the family was born in, if any */
  readonly sid?: string;
  readonly authTime: number;
  readonly amr?: readonly string[];
  /** epoch seconds: the family's absolute end */
  readonly exp: number;
  /**
   * DialectProfile.dialect of the token endpoint that started the family (QingCloud `sso`);
   * absent: the Tencent families. /sso/refresh_token/ takes no client secret, so it only serves
   * families of its own dialect.
   */
  readonly dialect?: string;
}

export type FamilyState = { readonly rt: string; readonly at: string } | { readonly revoked: true };

const invalidRefresh = (cause: string) => new ProviderError('invalid_refresh_token', 'invalid refresh token', { cause });

export class RefreshFamilies {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
    private readonly accessTokens: AccessTokens,
    /** the longest a family lives (refreshTtl): how long a forced revocation is remembered */
    private readonly maxTtl: number,
  ) {}

  /** Store writes that make `hash` the family's current token (run with the issuance batch). */
  writes(record: RefreshRecord, hash: string, accessKey: string): Array<Promise<unknown>> {
    const ttl = Math.max(1, record.exp - epochSeconds(this.clock));
    const state: FamilyState = { rt: hash, at: accessKey };
    return [
      this.store.set(`rt:${hash}`, JSON.stringify(record), ttl),
      this.store.set(`rtf:${record.fid}`, JSON.stringify(state), ttl),
    ];
  }

  /** Puts a taken token back unchanged (a refused request must not cost the client its token). */
  restore(record: RefreshRecord, hash: string): Promise<void> {
    return this.store.set(`rt:${hash}`, JSON.stringify(record), Math.max(1, record.exp - epochSeconds(this.clock)));
  }

  /** The write making `hash` a rotating family's next token (its state follows in `commitRotation`). */
  rotationWrite(record: RefreshRecord, hash: string): Promise<void> {
    return this.store.set(`rt:${hash}`, JSON.stringify(record), Math.max(1, record.exp - epochSeconds(this.clock)));
  }

  /**
   * Makes the rotation current: the family state moves from `expected` (what `consume` read) to
   * the new token, only if nobody changed it meanwhile. False when a logout, revocation or reuse
   * detection revoked the family in between: then the caller must revoke what it minted
   * (`abandonRotation`); the revocation stands.
   */
  commitRotation(record: RefreshRecord, expected: string, hash: string, accessKey: string): Promise<boolean> {
    const ttl = Math.max(1, record.exp - epochSeconds(this.clock));
    const state: FamilyState = { rt: hash, at: accessKey };
    return this.store.compareAndSet(`rtf:${record.fid}`, expected, JSON.stringify(state), ttl);
  }

  /** Removes what a rotation that lost its compare-and-set had written. */
  async abandonRotation(hash: string, accessKey: string): Promise<void> {
    await Promise.all([this.store.del(`rt:${hash}`), this.accessTokens.revoke(accessKey)]);
  }

  /** Writes retiring a rotated token: remember it for reuse detection, kill its access token. */
  retireWrites(record: RefreshRecord, oldHash: string, oldAccessKey: string | undefined): Array<Promise<unknown>> {
    const ttl = Math.max(1, record.exp - epochSeconds(this.clock));
    const w: Array<Promise<unknown>> = [this.store.set(`rtused:${oldHash}`, record.fid, ttl)];
    if (oldAccessKey) w.push(this.accessTokens.revoke(oldAccessKey));
    return w;
  }

  /**
   * Takes a presented refresh token for rotation. Returns its record, the family's current access
   * key and what `load` fetched (run in parallel with the family check: one round trip, not two);
   * throws invalid_refresh_token, revoking the family on reuse.
   */
  async consume<T>(
    token: string,
    clientId: string,
    load: (record: RefreshRecord) => Promise<T>,
  ): Promise<{ record: RefreshRecord; hash: string; accessKey?: string; state: string; loaded: T }> {
    if (token.length > 512) throw invalidRefresh('oversized refresh token');
    const hash = hashHandle(token);
    const raw = await this.store.take(`rt:${hash}`);
    if (!raw) {
      const fid = await this.store.get(`rtused:${hash}`);
      if (fid) {
        await this.revokeFamily(fid);
        throw invalidRefresh('refresh token reused: family revoked');
      }
      throw invalidRefresh('unknown refresh token');
    }
    const record = JSON.parse(raw) as RefreshRecord;
    if (record.cid !== clientId) {
      // Presented by another client: the token is burned; kill the family too.
      await this.revokeFamily(record.fid);
      throw invalidRefresh('refresh token of another client');
    }
    if (record.exp <= epochSeconds(this.clock)) throw invalidRefresh('refresh token expired');
    const [stored, loaded] = await Promise.all([this.store.get(`rtf:${record.fid}`), load(record)]);
    const state = stored ? (JSON.parse(stored) as FamilyState) : null;
    if (!stored || !state || 'revoked' in state) throw invalidRefresh('family revoked');
    // The state as stored is what the rotation's compare-and-set expects to replace.
    return { record, hash, accessKey: state.at, state: stored, loaded };
  }

  /** Looks a token up without consuming it (revocation, introspection). */
  async peek(token: string): Promise<{ record: RefreshRecord; hash: string } | null> {
    const hash = hashHandle(token);
    const raw = await this.store.get(`rt:${hash}`);
    if (!raw) return null;
    const record = JSON.parse(raw) as RefreshRecord;
    return record.exp > epochSeconds(this.clock) ? { record, hash } : null;
  }

  /**
   * The live family of an already-rotated token and its client, or null (not a rotated token, or
   * the family is over). Revocation uses it: a client that logs out while it rotates still holds
   * the previous token (RFC 7009 §2.1: revoking a refresh token revokes its grant).
   */
  async rotatedFamily(token: string): Promise<{ fid: string; cid: string } | null> {
    if (token.length > 512) return null;
    const fid = await this.store.get(`rtused:${hashHandle(token)}`);
    const state = fid ? await this.family(fid) : null;
    if (!fid || !state || 'revoked' in state) return null;
    const current = await this.store.get(`rt:${state.rt}`);
    return current ? { fid, cid: (JSON.parse(current) as RefreshRecord).cid } : null;
  }

  async family(fid: string): Promise<FamilyState | null> {
    const raw = await this.store.get(`rtf:${fid}`);
    return raw ? (JSON.parse(raw) as FamilyState) : null;
  }

  /**
   * Revokes a family: its current refresh and access tokens die; later uses of any of its tokens
   * fail. A compare-and-set like the rotation's, so that the tokens killed are those of the state
   * actually replaced: a rotation committing in between is seen (and its tokens killed) on the retry.
   */
  async revokeFamily(fid: string): Promise<void> {
    const key = `rtf:${fid}`;
    const revoked = JSON.stringify({ revoked: true } satisfies FamilyState);
    for (let tries = 0; tries < 10; tries++) {
      const [raw, left] = await Promise.all([this.store.get(key), this.store.ttl(key)]);
      const state = raw ? (JSON.parse(raw) as FamilyState) : null;
      if (state && 'revoked' in state) return;
      if (await this.store.compareAndSet(key, raw, revoked, Math.max(60, left | 0))) {
        if (state) await Promise.all([this.store.del(`rt:${state.rt}`), this.accessTokens.revoke(state.at)]);
        return;
      }
    }
    // Ten lost races in a row mean the family is rotating in a tight loop: force the revocation
    // (every rotation's compare-and-set fails from now on) and kill the state last seen.
    const raw = await this.store.get(key);
    await this.store.set(key, revoked, this.maxTtl);
    const state = raw ? (JSON.parse(raw) as FamilyState) : null;
    if (state && !('revoked' in state)) await Promise.all([this.store.del(`rt:${state.rt}`), this.accessTokens.revoke(state.at)]);
  }
}
