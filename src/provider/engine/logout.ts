/**
 * Ending a provider SSO session: every token issued under its `sid` is revoked (the `sidx:{sid}`
 * index names refresh families `f:` and family-less access tokens `a:`), the session is deleted,
 * and each client signed in under it that registered a `backchannelLogoutUri` receives an OIDC
 * Back-Channel Logout 1.0 logout_token by POST, fire-and-forget with a short timeout (§2.5: the
 * OP must not wait on RPs to finish the user's logout).
 */
import type { KvStore } from '../../store/store.js';
import type { Client, ClientRegistry } from './clients.js';
import type { IdTokens } from './id-tokens.js';
import type { AccessTokens } from './access-tokens.js';
import type { RefreshFamilies } from './refresh-families.js';
import type { SignedInClient, SsoSessions } from './sso-sessions.js';

export interface EngineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const BACKCHANNEL_TIMEOUT_MS = 2000;

export class SessionIndex {
  constructor(
    private readonly store: KvStore,
    private readonly ttlSeconds: number,
  ) {}

  addFamily(sid: string, fid: string): Promise<void> {
    return this.store.sadd(`sidx:${sid}`, `f:${fid}`, this.ttlSeconds);
  }

  addAccess(sid: string, key: string): Promise<void> {
    return this.store.sadd(`sidx:${sid}`, `a:${key}`, this.ttlSeconds);
  }

  members(sid: string): Promise<string[]> {
    return this.store.smembers(`sidx:${sid}`);
  }

  drop(sid: string): Promise<void> {
    return this.store.del(`sidx:${sid}`);
  }
}

export class Logout {
  constructor(
    private readonly deps: {
      clients: ClientRegistry;
      sessions: SsoSessions;
      index: SessionIndex;
      refresh: RefreshFamilies;
      accessTokens: AccessTokens;
      idTokens: IdTokens;
      log: EngineLogger;
      fetch: typeof fetch;
    },
  ) {}

  /**
   * Ends the session `sid`; resolves once its tokens are revoked. `backchannel` resolves when every
   * logout_token delivery has finished (tests wait on it; the endpoints do not).
   */
  async endSession(sid: string, issuer: string): Promise<{ backchannel: Promise<void> }> {
    const { sessions, index, refresh, accessTokens } = this.deps;
    const session = await sessions.get(sid);
    // The session ends first, then its index is read: a code exchange that adds tokens to the
    // index after this read finds the session ended and revokes them itself (grants/authorization-code.ts).
    const signedIn = await sessions.end(sid);
    const members = await index.members(sid);
    await Promise.all(
      members.map((m) => (m.startsWith('f:') ? refresh.revokeFamily(m.slice(2)) : accessTokens.revoke(m.slice(2)))),
    );
    await index.drop(sid);
    const backchannel = session ? this.notify(signedIn, session.userId, sid, issuer) : Promise.resolve();
    return { backchannel };
  }

  /**
   * One logout_token per (client, issuer) the client was signed in with, `iss` being that issuer
   * (its ID tokens' `iss`, §2.4), not the family the logout came through (`fallbackIssuer` only
   * for entries that recorded none).
   */
  private async notify(signedIn: SignedInClient[], sub: string, sid: string, fallbackIssuer: string): Promise<void> {
    const { clients, idTokens, log } = this.deps;
    const targets = new Map<string, { client: Client; issuer: string }>();
    for (const entry of signedIn) {
      const client = clients.get(entry.clientId);
      const issuer = entry.issuer ?? fallbackIssuer;
      if (client?.backchannelLogoutUri) targets.set(JSON.stringify([client.id, issuer]), { client, issuer });
    }
    await Promise.all(
      [...targets.values()].map(async ({ client, issuer }) => {
        const uri = client.backchannelLogoutUri;
        try {
          const token = await idTokens.logoutToken({ issuer, clientId: client.id, sub, sid });
          const res = await this.deps.fetch(uri, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ logout_token: token }).toString(),
            redirect: 'manual',
            signal: AbortSignal.timeout(BACKCHANNEL_TIMEOUT_MS),
          });
          await res.body?.cancel();
          (res.ok ? log.info : log.warn).call(log, { clientId: client.id, status: res.status }, 'back-channel logout delivered');
        } catch (err) {
          log.warn({ clientId: client.id, err: (err as Error).message }, 'back-channel logout failed');
        }
      }),
    );
  }
}
