/**
 * Authorization codes: >= 256-bit random handles stored only as hashes (`code:{sha256}`), consumed
 * once with `take` (GETDEL). A successful exchange leaves `codeused:{hash}` naming what it issued;
 * a replay finds that marker and revokes those tokens (RFC 6749 §4.1.2, "SHOULD revoke").
 * Expiry is checked against the injected clock; the store TTL is only the clean-up.
 */
import type { KvStore } from '../../store/store.js';
import { epochSeconds, type Clock } from '../../clock.js';
import { hashHandle, randomHandle } from '../../crypto/secrets.js';
import type { User } from './directory.js';
import { ProviderError } from './errors.js';
import type { PkceMethod } from './pkce.js';

export interface CodeRecord {
  readonly cid: string;
  /** the user at login time (no password hash); the exchange issues to the directory's current record */
  readonly user: User;
  /** the redirect URI the code was issued to, and whether the client sent it (EIAM may omit it) */
  readonly redirectUri: string;
  readonly redirectUriSent: boolean;
  readonly scope: readonly string[];
  readonly nonce?: string;
  readonly sid?: string;
  readonly authTime: number;
  readonly amr: readonly string[];
  readonly pkce?: { readonly challenge: string; readonly method: PkceMethod };
  /** the dialect whose token endpoint alone may redeem the code (DialectProfile.dialect) */
  readonly dialect?: string;
  /** epoch seconds */
  readonly exp: number;
}

/** What an exchanged code issued, so a replay can revoke it. */
export interface IssuedFromCode {
  readonly fid?: string;
  readonly at: string;
}

const invalidCode = (cause: string) => new ProviderError('invalid_code', 'invalid code', { cause });

export class AuthorizationCodes {
  constructor(
    private readonly store: KvStore,
    private readonly clock: Clock,
    private readonly ttlSeconds: number,
    /** how long a used code is remembered for replay detection, seconds */
    private readonly usedTtlSeconds: number,
  ) {}

  async issue(fields: Omit<CodeRecord, 'exp' | 'user'> & { user: User }): Promise<string> {
    const code = randomHandle();
    const { passwordHash: _pw, ...user } = fields.user;
    const record: CodeRecord = { ...fields, user, exp: epochSeconds(this.clock) + this.ttlSeconds };
    await this.store.set(`code:${hashHandle(code)}`, JSON.stringify(record), this.ttlSeconds);
    return code;
  }

  /**
   * Takes a code for exchange. On a replay, `onReplay` receives what the first exchange issued
   * (to revoke it) before invalid_code is thrown.
   */
  async consume(code: string, onReplay: (issued: IssuedFromCode) => Promise<void>): Promise<{ record: CodeRecord; hash: string }> {
    if (code.length > 512) throw invalidCode('oversized code');
    const hash = hashHandle(code);
    const raw = await this.store.take(`code:${hash}`);
    if (!raw) {
      const used = await this.store.get(`codeused:${hash}`);
      if (used) {
        await this.store.del(`codeused:${hash}`);
        await onReplay(JSON.parse(used) as IssuedFromCode);
        throw invalidCode('authorization code replayed: issued tokens revoked');
      }
      throw invalidCode('unknown authorization code');
    }
    const record = JSON.parse(raw) as CodeRecord;
    if (record.exp <= epochSeconds(this.clock)) throw invalidCode('authorization code expired');
    return { record, hash };
  }

  /** The write remembering what an exchange issued (run with the issuance batch). */
  markUsed(hash: string, issued: IssuedFromCode): Promise<void> {
    return this.store.set(`codeused:${hash}`, JSON.stringify(issued), this.usedTtlSeconds);
  }
}
