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
}

export type FamilyState = { readonly rt: string; readonly at: string } | { readonly revoked: true };

const invalidRefresh = (cause: string) => new ProviderError('invalid_refresh_token', 'invalid refresh token', { cause });

export class RefreshFamilies {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
    private readonly accessTokens: AccessTokens,
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
  ): Promise<{ record: RefreshRecord; hash: string; accessKey?: string; loaded: T }> {
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
    const [state, loaded] = await Promise.all([this.family(record.fid), load(record)]);
    if (!state || 'revoked' in state) throw invalidRefresh('family revoked');
    return { record, hash, accessKey: state.at, loaded };
  }

  /** Looks a token up without consuming it (revocation, introspection). */
  async peek(token: string): Promise<{ record: RefreshRecord; hash: string } | null> {
    const hash = hashHandle(token);
    const raw = await this.store.get(`rt:${hash}`);
    if (!raw) return null;
    const record = JSON.parse(raw) as RefreshRecord;
    return record.exp > epochSeconds(this.clock) ? { record, hash } : null;
  }

  async family(fid: string): Promise<FamilyState | null> {
    const raw = await this.store.get(`rtf:${fid}`);
    return raw ? (JSON.parse(raw) as FamilyState) : null;
  }

  /** Revokes a family: its current refresh and access tokens die; later uses of any of its tokens fail. */
  async revokeFamily(fid: string): Promise<void> {
    const state = await this.family(fid);
    const ttl = Math.max(60, (await this.store.ttl(`rtf:${fid}`)) | 0);
    await this.store.set(`rtf:${fid}`, JSON.stringify({ revoked: true } satisfies FamilyState), ttl);
    if (state && !('revoked' in state)) await Promise.all([this.store.del(`rt:${state.rt}`), this.accessTokens.revoke(state.at)]);
  }
}
