/**
 * The provider engine: one grant and token engine under every dialect (DESIGN.md §3). No HTTP
 * types here; dialects (dialects/oidc, dialects/sso, dialects/oneaccess) translate their wire
 * format to these calls and map `ProviderError.kind` to their own strings.
 *
 * Public API (what another dialect calls):
 *
 *   const engine = await Engine.create({ config, store, clock, log })   // plugin.ts does this once
 *   engine.registerIssuer(issuer)           a dialect family's `iss` (tokens of every registered
 *                                           issuer validate everywhere)
 *   engine.clients.authenticate(creds)      -> Client           (throws invalid_client)
 *   engine.clients.get(id)
 *   engine.directory                        users: get / findByUsername / findByPhone / findByEmail /
 *                                           findByLogin / create / update / delete / listIds
 *   engine.authSources.resolve(client, id)  the auth source of a password login
 *   engine.passwords.verify({login, password, ip, source}) -> User (brute-force reserved per account,
 *                                           IP and account+IP before the check; seed 001 errors)
 *   engine.secondFactor                     the SecondFactor hook (default: never required); replace it
 *   engine.grants.register(grant)           add a grant (e.g. mfa_oob); `engine.grants.get(type)`
 *                                           (built in: authorization_code, refresh_token, password,
 *                                           client_credentials, RFC 8693 token exchange)
 *   engine.exchange(type, ctx)              run a registered grant -> TokenResponse
 *   engine.issueTokens(req)                 mint access (+ refresh, + id) tokens for a user or client
 *   engine.authorizeDecision(request, cookie) -> issue now (SSO session) | login page | login_required
 *   engine.issueCode(request, session)      -> redirect URL with code (+ state); implicit requests
 *                                           (EIAM response_type=token): the token in the fragment
 *   engine.beginLogin(request)              park an authorize request for the login page (p_state)
 *   engine.completeLogin(ix, user, amr, previousCookie) -> { redirectTo, cookie } (new SSO session,
 *                                           or the same user's renewed under a fresh secret)
 *   engine.validateAccessToken(token)       -> { record, user } | null (revocation-aware)
 *   engine.userClaims(user, scope)          OIDC claims released by the scopes
 *   engine.revokeToken(token, client, hint) RFC 7009 semantics
 *   engine.introspect(token, client)        RFC 7662 body (the caller's own tokens only)
 *   engine.endSession(sid, issuer)          logout: revoke the session's tokens + back-channel logout
 *   engine.keys                             KeyStore: sign / verify / publicJwks
 *
 * Store keys used (all under the store's prefix): dir:*, code:*, codeused:*, at:*, rt:*, rtused:*,
 * rtf:*, sso:*, ssoc:*, sidx:*, ix:*, bf:*, provider:jwks.
 */
import type { ProviderConfig } from '../../config/schema.js';
import type { KvStore } from '../../store/store.js';
import { epochSeconds, type Clock } from '../../clock.js';
import { KeyStore } from '../../crypto/keystore.js';
import { hashHandle, randomHandle } from '../../crypto/secrets.js';
import { AccessTokens, type AccessRecord } from './access-tokens.js';
import { redirectWith, type AuthorizationRequest, type AuthorizeDecision, decide } from './authorize.js';
import { BruteForceGuard } from './brute-force.js';
import { ClientRegistry, type Client } from './clients.js';
import { AuthorizationCodes, type IssuedFromCode } from './codes.js';
import { Directory, type User } from './directory.js';
import { ProviderError } from './errors.js';
import { authorizationCodeGrant } from './grants/authorization-code.js';
import { clientCredentialsGrant } from './grants/client-credentials.js';
import { GrantRegistry, type GrantContext, type TokenResponse } from './grants/grant.js';
import { passwordGrant } from './grants/password.js';
import { refreshTokenGrant } from './grants/refresh-token.js';
import { tokenExchangeGrant } from './grants/token-exchange.js';
import { IdTokens } from './id-tokens.js';
import { issueImplicit } from './implicit.js';
import { Interactions, type Interaction } from './interactions.js';
import { Logout, SessionIndex, type EngineLogger } from './logout.js';
import { AuthSources, PasswordLogin } from './password-login.js';
import { RefreshFamilies, type RefreshRecord } from './refresh-families.js';
import { userClaims, type Claims } from './scopes.js';
import { noSecondFactor, type SecondFactor } from './second-factor.js';
import { SsoSessions, type SsoSession } from './sso-sessions.js';

export interface EngineDeps {
  config: ProviderConfig;
  store: KvStore;
  clock: Clock;
  log: EngineLogger;
  /** back-channel logout transport (tests may pass their own; default global fetch) */
  fetch?: typeof fetch;
}

export interface IssueTokensRequest {
  client: Client;
  issuer: string;
  /** null: the client itself (client_credentials) */
  user: User | null;
  scope: readonly string[];
  sid?: string;
  authTime?: number;
  amr?: readonly string[];
  nonce?: string;
  /**
   * 'new': start a refresh family; a record: rotate that family's token, `state` being the family
   * state `consume` read (the rotation commits only if it is still current)
   */
  refresh: 'none' | 'new' | { record: RefreshRecord; oldHash: string; oldAccessKey?: string; state: string };
  /** default: when the scope has openid and there is a user */
  idToken?: boolean;
  /** DialectProfile.dialect of the token endpoint, recorded on a new refresh family */
  dialect?: string;
  /** writes to run in the same batch, given what was issued (e.g. the used-code marker) */
  extraWrites?: (out: { accessKey: string; fid?: string }) => Array<Promise<unknown>>;
}

export interface IssuedTokens {
  response: TokenResponse;
  accessKey: string;
  fid?: string;
}

/** A used code is remembered this long for replay detection (capped by the refresh lifetime). */
const USED_CODE_TTL = 86400;

export class Engine {
  readonly clients: ClientRegistry;
  readonly directory: Directory;
  readonly authSources: AuthSources;
  readonly bruteForce: BruteForceGuard;
  readonly passwords: PasswordLogin;
  readonly sessions: SsoSessions;
  readonly interactions: Interactions;
  readonly codes: AuthorizationCodes;
  readonly accessTokens: AccessTokens;
  readonly idTokens: IdTokens;
  readonly refresh: RefreshFamilies;
  readonly sessionIndex: SessionIndex;
  readonly grants = new GrantRegistry();
  readonly logout: Logout;
  /** Replace to require a second factor (SMS MFA); the default never does. */
  secondFactor: SecondFactor = noSecondFactor;
  private readonly issuers = new Set<string>();

  private constructor(
    readonly config: ProviderConfig,
    readonly store: KvStore,
    readonly clock: Clock,
    readonly keys: KeyStore,
    readonly log: EngineLogger,
    fetchImpl: typeof fetch,
  ) {
    const t = config.tokens;
    this.clients = new ClientRegistry(config.clients);
    this.directory = new Directory(store, clock);
    this.authSources = new AuthSources(config.authSources);
    this.bruteForce = new BruteForceGuard(store, clock, config.bruteForce);
    this.passwords = new PasswordLogin(this.directory, this.bruteForce);
    this.sessions = new SsoSessions(store, clock, t.ssoTtl);
    this.interactions = new Interactions(store, clock);
    this.codes = new AuthorizationCodes(store, clock, t.codeTtl, Math.min(t.refreshTtl, USED_CODE_TTL));
    this.accessTokens = new AccessTokens(store, clock, keys, t.accessTtl, () => [...this.issuers]);
    this.idTokens = new IdTokens(keys, clock, t.idTtl);
    this.refresh = new RefreshFamilies(store, clock, this.accessTokens, t.refreshTtl);
    this.sessionIndex = new SessionIndex(store, Math.max(t.ssoTtl, t.refreshTtl));
    this.logout = new Logout({
      clients: this.clients,
      sessions: this.sessions,
      index: this.sessionIndex,
      refresh: this.refresh,
      accessTokens: this.accessTokens,
      idTokens: this.idTokens,
      log,
      fetch: fetchImpl,
    });
    for (const g of [authorizationCodeGrant, refreshTokenGrant, passwordGrant, clientCredentialsGrant, tokenExchangeGrant]) this.grants.register(g);
  }

  /** Loads the signing keys (configured, or generated once and kept in the store) and seeds the users. */
  static async create(deps: EngineDeps): Promise<Engine> {
    const keys = await KeyStore.load(deps.config.keys, deps.store, deps.config.tokens.signingAlg);
    const engine = new Engine(deps.config, deps.store, deps.clock, keys, deps.log, deps.fetch ?? fetch);
    await engine.directory.seed(deps.config.users);
    return engine;
  }

  nowSeconds(): number {
    return epochSeconds(this.clock);
  }

  registerIssuer(issuer: string): void {
    this.issuers.add(issuer);
  }

  /** Every registered issuer: a token of any of them is ours (token exchange verifies id tokens). */
  registeredIssuers(): string[] {
    return [...this.issuers];
  }

  /** Runs a registered grant for an authenticated client (the dialect did client auth). */
  async exchange(type: string, ctx: Omit<GrantContext, 'engine'>): Promise<TokenResponse> {
    const grant = this.grants.get(type);
    if (!grant) throw new ProviderError('unsupported_grant_type', 'invalid grant_type', { param: 'grant_type' });
    if (!ctx.client.grants.has(grant.clientGrant ?? grant.type)) throw new ProviderError('unauthorized_client', `client may not use grant_type ${type}`);
    return grant.handle({ ...ctx, engine: this });
  }

  /**
   * Mints the tokens of one grant and stores every record in one parallel batch (one round trip
   * on Redis): the access token record, the refresh family, the session index, extra writes.
   */
  async issueTokens(r: IssueTokensRequest): Promise<IssuedTokens> {
    const now = this.nowSeconds();
    const rotating = typeof r.refresh === 'object' ? r.refresh : null;
    const fid = rotating ? rotating.record.fid : r.refresh === 'new' && r.user ? randomHandle(16) : undefined;
    const access = await this.accessTokens.mint({
      client: r.client,
      issuer: r.issuer,
      sub: r.user ? r.user.id : r.client.id,
      ...(r.user ? { uid: r.user.id } : {}),
      scope: r.scope,
      ...(r.sid !== undefined ? { sid: r.sid } : {}),
      ...(fid !== undefined ? { fid } : {}),
    });
    const wantId = r.idToken ?? (r.user !== null && r.scope.includes('openid'));
    const idToken =
      wantId && r.user
        ? this.idTokens.sign({
            issuer: r.issuer,
            clientId: r.client.id,
            user: r.user,
            scope: r.scope,
            accessToken: access.token,
            accessKey: access.key,
            ...(r.authTime !== undefined ? { authTime: r.authTime } : {}),
            ...(r.nonce !== undefined ? { nonce: r.nonce } : {}),
            ...(r.sid !== undefined ? { sid: r.sid } : {}),
            ...(r.amr !== undefined ? { amr: r.amr } : {}),
          })
        : undefined;

    const writes: Array<Promise<unknown>> = [this.accessTokens.write(access)];
    let refreshToken: string | undefined;
    if (fid !== undefined && r.user) {
      refreshToken = randomHandle();
      const record: RefreshRecord = rotating
        ? rotating.record
        : {
            fid,
            cid: r.client.id,
            uid: r.user.id,
            scope: [...r.scope],
            ...(r.sid !== undefined ? { sid: r.sid } : {}),
            authTime: r.authTime ?? now,
            ...(r.amr ? { amr: [...r.amr] } : {}),
            exp: now + this.config.tokens.refreshTtl,
            ...(r.dialect !== undefined ? { dialect: r.dialect } : {}),
          };
      if (rotating) writes.push(this.refresh.rotationWrite(record, hashHandle(refreshToken)), ...this.refresh.retireWrites(record, rotating.oldHash, rotating.oldAccessKey));
      else {
        writes.push(...this.refresh.writes(record, hashHandle(refreshToken), access.key));
        if (r.sid !== undefined) writes.push(this.sessionIndex.addFamily(r.sid, fid));
      }
    } else if (r.sid !== undefined) {
      writes.push(this.sessionIndex.addAccess(r.sid, access.key));
    }
    // The issuer these tokens carry is the one this client's logout_token must carry (a code from
    // one Tencent family may be redeemed at the other's token endpoint).
    if (r.sid !== undefined && r.user) writes.push(this.sessions.addClient(r.sid, r.client.id, r.issuer));
    if (r.extraWrites) writes.push(...r.extraWrites({ accessKey: access.key, ...(fid !== undefined ? { fid } : {}) }));
    const [id] = await Promise.all([idToken, Promise.all(writes)]);
    if (rotating && refreshToken !== undefined) {
      // The new tokens exist before the family names them, so a revocation that reads the new
      // state always finds them; one that landed since `consume` makes the rotation lose.
      const newHash = hashHandle(refreshToken);
      if (!(await this.refresh.commitRotation(rotating.record, rotating.state, newHash, access.key))) {
        await this.refresh.abandonRotation(newHash, access.key);
        throw new ProviderError('invalid_refresh_token', 'invalid refresh token', { cause: 'family revoked during rotation' });
      }
    }

    const response: TokenResponse = {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: this.accessTokens.ttlSeconds,
      scope: r.scope.join(' '),
      ...(refreshToken !== undefined ? { refresh_token: refreshToken } : {}),
      ...(id !== undefined ? { id_token: id } : {}),
    };
    return { response, accessKey: access.key, ...(fid !== undefined ? { fid } : {}) };
  }

  /** Revokes what a replayed authorization code issued. */
  async revokeIssued(issued: IssuedFromCode): Promise<void> {
    await this.revokeTokens(issued);
    this.log.warn({ fid: issued.fid }, 'authorization code replayed: revoked the tokens it issued');
  }

  /** Revokes an access token and, when given, its refresh family. */
  async revokeTokens(issued: IssuedFromCode): Promise<void> {
    await Promise.all([issued.fid ? this.refresh.revokeFamily(issued.fid) : undefined, this.accessTokens.revoke(issued.at)]);
  }

  /** What authorize does for this browser: a code now, the login page, or login_required. */
  async authorizeDecision(request: AuthorizationRequest, cookie: string | undefined): Promise<AuthorizeDecision> {
    const session = await this.sessions.resolve(cookie);
    const live = session && (await this.activeUser(session.userId)) ? session : null;
    return decide(request, live, this.nowSeconds());
  }

  private async activeUser(id: string): Promise<User | null> {
    const u = await this.directory.get(id);
    return u && u.status === 'active' ? u : null;
  }

  /** Issues a code (implicit: an access token) under a live SSO session; returns the redirect to the client. */
  async issueCode(request: AuthorizationRequest, session: SsoSession): Promise<string> {
    const user = await this.activeUser(session.userId);
    if (!user) throw new ProviderError('login_required', 'login required');
    // EIAM's implicit flow answers with the access token itself, after a login page too.
    if (request.responseType === 'token') return issueImplicit(this, request, user, session);
    const [code] = await Promise.all([
      this.codes.issue({
        cid: request.clientId,
        user,
        redirectUri: request.redirectUri,
        redirectUriSent: request.redirectUriSent,
        scope: request.scope,
        ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
        sid: session.sid,
        authTime: session.authTime,
        amr: session.amr,
        ...(request.pkce ? { pkce: request.pkce } : {}),
        ...(request.dialect !== undefined ? { dialect: request.dialect } : {}),
      }),
      this.sessions.addClient(session.sid, request.clientId, request.issuer),
    ]);
    return redirectWith(request.redirectUri, { code, state: request.state });
  }

  /** Parks an authorize request while the user logs in; the handle is the login page's p_state. */
  beginLogin(request: AuthorizationRequest): Promise<Interaction> {
    return this.interactions.create(request);
  }

  /**
   * Finishes a login (password, then any second factor): a code for the parked request, the
   * interaction closed, and the browser's SSO session: a new one, or, when the browser's session
   * is the same user's (prompt=login, max_age), that session renewed under a fresh secret (the
   * cookie changes: no fixation; the sid stays, so one logout still reaches every token issued
   * under either login). A browser session of another user is ended (its tokens revoked,
   * back-channel logout sent).
   */
  async completeLogin(
    ix: Interaction,
    user: User,
    amr: readonly string[],
    previousCookie?: string,
  ): Promise<{ redirectTo: string; cookie: string; session: SsoSession }> {
    if (!(await this.interactions.finish(ix.id))) throw new ProviderError('interaction_expired', 'login expired; start again');
    const previous = await this.sessions.resolve(previousCookie);
    if (previous && previous.userId !== user.id) void this.endSession(previous.sid, ix.request.issuer).catch(() => {});
    const { session, cookie } =
      previous && previous.userId === user.id ? await this.sessions.renew(previous, amr) : await this.sessions.create(user.id, amr);
    const redirectTo = await this.issueCode(ix.request, session);
    return { redirectTo, cookie, session };
  }

  /** The live access token and its user (null for client tokens); null when invalid or revoked. */
  async validateAccessToken(token: string): Promise<{ record: AccessRecord; user: User | null } | null> {
    const hit = await this.accessTokens.validate(token);
    if (!hit) return null;
    if (hit.record.uid === undefined) return { record: hit.record, user: null };
    const user = await this.activeUser(hit.record.uid);
    return user ? { record: hit.record, user } : null;
  }

  userClaims(user: User, scope: readonly string[]): Claims {
    return { sub: user.id, ...userClaims(user, scope) };
  }

  /**
   * RFC 7009: revokes a token of this client. A refresh token takes its family (and so its access
   * token) with it, also when it was already rotated out; an access token only itself. Unknown
   * tokens and other clients' tokens are ignored (the endpoint still answers success, §2.2).
   */
  async revokeToken(token: string, client: Client, hint?: string): Promise<void> {
    const tryRefresh = async () => {
      const hit = await this.refresh.peek(token);
      if (hit && hit.record.cid === client.id) {
        await this.refresh.revokeFamily(hit.record.fid);
        return true;
      }
      // A token rotated a moment ago (the client logs out while it refreshes) still names its family.
      const rotated = hit ? null : await this.refresh.rotatedFamily(token);
      if (rotated && rotated.cid === client.id) {
        await this.refresh.revokeFamily(rotated.fid);
        return true;
      }
      return false;
    };
    const tryAccess = async () => {
      const key = await this.accessTokens.keyOf(token, true);
      if (!key) return false;
      const record = await this.accessTokens.get(key);
      if (record && record.cid === client.id) {
        await this.accessTokens.revoke(key);
        return true;
      }
      return false;
    };
    if (hint === 'access_token') (await tryAccess()) || (await tryRefresh());
    else (await tryRefresh()) || (await tryAccess());
  }

  /**
   * RFC 7662 §2.2 body for a token, as seen by a confidential client. A client learns only about
   * its own tokens (aud/client_id): §2.1 leaves who may introspect what to the server, and another
   * client's token would disclose its user (username, sub) and scope. Anything else is inactive.
   */
  async introspect(token: string, client: Client): Promise<Record<string, unknown>> {
    const access = await this.validateAccessToken(token);
    if (access && access.record.cid === client.id) {
      const r = access.record;
      return {
        active: true,
        scope: r.scope.join(' '),
        client_id: r.cid,
        ...(access.user ? { username: access.user.username } : {}),
        token_type: 'Bearer',
        exp: r.exp,
        iat: r.iat,
        nbf: r.iat,
        sub: r.sub,
        aud: r.cid,
        iss: r.iss,
        ...(r.sid !== undefined ? { sid: r.sid } : {}),
      };
    }
    // Refresh tokens are only disclosed to the client that holds them.
    const refresh = await this.refresh.peek(token);
    if (refresh && refresh.record.cid === client.id) {
      const state = await this.refresh.family(refresh.record.fid);
      if (state && !('revoked' in state) && state.rt === refresh.hash) {
        const user = await this.activeUser(refresh.record.uid);
        if (user)
          return {
            active: true,
            scope: refresh.record.scope.join(' '),
            client_id: refresh.record.cid,
            username: user.username,
            token_type: 'refresh_token',
            exp: refresh.record.exp,
            sub: user.id,
          };
      }
    }
    return { active: false };
  }

  /** Logout: revokes the session's tokens and notifies clients by back-channel (not awaited). */
  endSession(sid: string, issuer: string): Promise<{ backchannel: Promise<void> }> {
    return this.logout.endSession(sid, issuer);
  }
}
