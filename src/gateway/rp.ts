/**
 * The gateway's relying party: the only module that imports openid-client (STYLE §2).
 * Authorization code + PKCE S256 + state + nonce against gateway.oidc.issuer, refresh, revocation,
 * RP-initiated logout URLs, and JWT verification against the issuer's JWKS (bearer API clients,
 * back-channel logout tokens).
 *
 * Discovery never blocks or crashes the start: it runs after the app is ready, retries with
 * backoff, and the readiness check 'issuer' reports it until it succeeds (DESIGN §4 Operations).
 * With the built-in provider every back-channel call goes through `fetch` = fastify's inject
 * (in-process-fetch.ts); the browser still sees the public URLs.
 */
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify, customFetch as joseCustomFetch, type JWTHeaderParameters, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { Clock } from '../clock.js';
import { IssuerUnavailable, LoginFailed } from './errors.js';

export type FetchLike = (url: string, init: { method?: string; headers?: Record<string, string> | Headers; body?: unknown; signal?: AbortSignal | null; redirect?: string }) => Promise<Response>;

export interface RelyingPartyOptions {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  /** Absolute redirect URI: {publicUrl}/_menshen/callback. */
  redirectUri: string;
  /** Back-channel transport; absent: the global fetch over the network. */
  fetch?: FetchLike;
  clock: Clock;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export interface Tokens {
  accessToken: string;
  /** Seconds, as the token endpoint said. */
  expiresIn?: number;
  refreshToken?: string;
  idToken?: string;
  /** Validated id token claims, when an id token came back. */
  claims?: Record<string, unknown>;
}

/** The issuer said the refresh token is dead (`invalid_grant`): the session must end (STYLE habit 8). */
export class RefreshRejected extends Error {
  constructor(options?: { cause?: unknown }) {
    super('refresh token rejected (invalid_grant)', options);
    this.name = 'RefreshRejected';
  }
}

/** Algorithms accepted on issuer-signed JWTs: asymmetric only, never `none` or HMAC. */
const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const MAX_RETRY_MS = 30_000;
const REQUEST_TIMEOUT_SECONDS = 10;

/** True for failures that say nothing about the tokens: the issuer is down, slow, or answering 5xx. */
export function isTransient(err: unknown): boolean {
  if (err instanceof IssuerUnavailable) return true;
  if (err instanceof oidc.ResponseBodyError) return err.status >= 500;
  if (err instanceof TypeError) return true; // fetch failed: connection refused/reset, DNS
  if (err instanceof DOMException) return err.name === 'TimeoutError' || err.name === 'AbortError';
  if (err instanceof oidc.ClientError) return err.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || err.code === 'OAUTH_RESPONSE_IS_NOT_JSON';
  return false;
}

export class RelyingParty {
  private config: oidc.Configuration | undefined;
  private discovering: Promise<oidc.Configuration> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(private readonly opts: RelyingPartyOptions) {}

  get issuer(): string {
    return this.opts.issuer;
  }

  get clientId(): string {
    return this.opts.clientId;
  }

  get discovered(): boolean {
    return this.config !== undefined;
  }

  /** Starts discovery in the background (call once the app is ready). */
  start(): void {
    this.discover().catch(() => {});
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }

  /** The discovered configuration; throws IssuerUnavailable while the issuer cannot be reached. */
  discover(): Promise<oidc.Configuration> {
    if (this.config) return Promise.resolve(this.config);
    this.discovering ??= this.runDiscovery().then(
      (cfg) => {
        this.config = cfg;
        this.failures = 0;
        this.opts.log.info({ issuer: this.opts.issuer }, 'issuer discovered');
        return cfg;
      },
      (err: unknown) => {
        this.discovering = undefined;
        this.failures++;
        this.opts.log.warn({ issuer: this.opts.issuer, err: (err as Error).message }, 'issuer discovery failed; retrying');
        this.scheduleRetry();
        throw new IssuerUnavailable('identity provider unavailable', { cause: err });
      },
    );
    return this.discovering;
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    const delay = Math.min(500 * 2 ** Math.min(this.failures, 8), MAX_RETRY_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.discover().catch(() => {});
    }, delay);
    this.retryTimer.unref();
  }

  private async runDiscovery(): Promise<oidc.Configuration> {
    const { issuer, clientId, fetch } = this.opts;
    const found = await oidc.discovery(new URL(issuer), clientId, undefined, undefined, {
      ...(fetch ? { [oidc.customFetch]: fetch as oidc.CustomFetch } : {}),
      ...(new URL(issuer).protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
      timeout: REQUEST_TIMEOUT_SECONDS,
    });
    return this.configure(found.serverMetadata(), 0);
  }

  /** The client configuration for discovered metadata; `skew` seconds shift openid-client's idea of "now". */
  private configure(server: oidc.ServerMetadata, skew: number): oidc.Configuration {
    const { clientId, clientSecret, fetch } = this.opts;
    // openid-client expects RS256 id tokens unless told otherwise; take the issuer's own choice
    // when it advertises exactly one (e.g. an ES256-only provider).
    const algs = server.id_token_signing_alg_values_supported ?? [];
    const idTokenAlg = algs.length === 1 ? algs[0]! : algs.includes('RS256') || algs.length === 0 ? 'RS256' : algs[0]!;
    // RFC 8414 §2: absent means client_secret_basic, the method every OAuth server must support.
    const methods = server.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    const auth = !clientSecret
      ? oidc.None()
      : methods.includes('client_secret_basic')
        ? oidc.ClientSecretBasic(clientSecret)
        : oidc.ClientSecretPost(clientSecret);
    const config = new oidc.Configuration(
      server,
      clientId,
      {
        ...(clientSecret ? { client_secret: clientSecret } : {}),
        id_token_signed_response_alg: idTokenAlg,
        ...(skew !== 0 ? { [oidc.clockSkew]: skew } : {}),
      },
      auth,
    );
    if (fetch) config[oidc.customFetch] = fetch as oidc.CustomFetch;
    if (new URL(this.opts.issuer).protocol === 'http:') oidc.allowInsecureRequests(config);
    config.timeout = REQUEST_TIMEOUT_SECONDS;
    return config;
  }

  /**
   * The configuration to validate responses with: id token times are checked against the injected
   * clock (STYLE habit 9), the same clock sessions expire by. With the system clock the skew is 0
   * and the discovered configuration is used as is.
   */
  private async current(): Promise<oidc.Configuration> {
    const config = await this.discover();
    const skew = Math.round((this.opts.clock.now() - Date.now()) / 1000);
    return skew === 0 ? config : this.configure(config.serverMetadata(), skew);
  }

  /** The authorize URL for a new login (PKCE S256, state, nonce). */
  async authorizationUrl(p: { state: string; nonce: string; codeVerifier: string }): Promise<string> {
    const config = await this.discover();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.opts.redirectUri,
      scope: this.opts.scopes.join(' '),
      state: p.state,
      nonce: p.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(p.codeVerifier),
      code_challenge_method: 'S256',
    });
    return url.href;
  }

  /** Redeems the code of a callback; validates state, nonce, PKCE and the id token. */
  async exchange(callbackUrl: URL, checks: { state: string; nonce: string; codeVerifier: string }): Promise<Tokens & { claims: Record<string, unknown> }> {
    const config = await this.current();
    try {
      const res = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      const claims = res.claims() as Record<string, unknown> | undefined;
      if (!claims) throw new LoginFailed('the identity provider returned no id token');
      return { ...tokensOf(res), claims };
    } catch (err) {
      if (err instanceof LoginFailed) throw err;
      if (isTransient(err)) throw new IssuerUnavailable('identity provider unavailable', { cause: err });
      if (err instanceof oidc.AuthorizationResponseError) {
        const denied = err.error === 'access_denied';
        throw new LoginFailed(denied ? 'sign-in was declined at the identity provider' : `sign-in failed: ${err.error}`, denied ? 403 : 400, { cause: err });
      }
      throw new LoginFailed('sign-in could not be completed; please try again', 400, { cause: err });
    }
  }

  /** Refreshes tokens; throws RefreshRejected on invalid_grant, anything else means "try again later". */
  async refresh(refreshToken: string): Promise<Tokens> {
    const config = await this.current();
    try {
      const res = await oidc.refreshTokenGrant(config, refreshToken);
      return tokensOf(res);
    } catch (err) {
      if (err instanceof oidc.ResponseBodyError && err.error === 'invalid_grant') throw new RefreshRejected({ cause: err });
      throw err;
    }
  }

  /** Best effort: revokes a token if the issuer has a revocation endpoint. */
  async revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<void> {
    const config = await this.discover();
    if (!config.serverMetadata().revocation_endpoint) return;
    await oidc.tokenRevocation(config, token, { token_type_hint: hint });
  }

  /** RP-initiated logout URL, or null when the issuer has no end_session_endpoint (or is unreachable). */
  async endSessionUrl(p: { idTokenHint?: string; postLogoutRedirectUri: string }): Promise<string | null> {
    let config: oidc.Configuration;
    try {
      config = await this.discover();
    } catch {
      return null;
    }
    if (!config.serverMetadata().end_session_endpoint) return null;
    return oidc.buildEndSessionUrl(config, {
      ...(p.idTokenHint ? { id_token_hint: p.idTokenHint } : { client_id: this.opts.clientId }),
      post_logout_redirect_uri: p.postLogoutRedirectUri,
    }).href;
  }

  /** Verifies a JWT signed by the issuer (signature via its JWKS, iss, exp/nbf); callers check aud. */
  async verifyJwt(token: string, options: Omit<JWTVerifyOptions, 'issuer' | 'algorithms' | 'currentDate'> = {}): Promise<JWTPayload> {
    return (await this.verifyJwtWithHeader(token, options)).payload;
  }

  /** verifyJwt, also returning the protected header (its `typ` tells an access token from an id or logout token). */
  async verifyJwtWithHeader(
    token: string,
    options: Omit<JWTVerifyOptions, 'issuer' | 'algorithms' | 'currentDate'> = {},
  ): Promise<{ payload: JWTPayload; header: JWTHeaderParameters }> {
    const config = await this.discover();
    const server = config.serverMetadata();
    if (!server.jwks_uri) throw new IssuerUnavailable('the identity provider publishes no jwks_uri');
    this.jwks ??= createRemoteJWKSet(new URL(server.jwks_uri), {
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
      ...(this.opts.fetch ? { [joseCustomFetch]: this.opts.fetch } : {}),
    });
    const { payload, protectedHeader } = await jwtVerify(token, this.jwks, {
      clockTolerance: 30,
      ...options,
      issuer: server.issuer,
      algorithms: ASYMMETRIC_ALGS,
      currentDate: new Date(this.opts.clock.now()),
    });
    return { payload, header: protectedHeader };
  }
}

function tokensOf(res: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): Tokens {
  const claims = res.claims() as Record<string, unknown> | undefined;
  const expiresIn = res.expiresIn();
  return {
    accessToken: res.access_token,
    ...(expiresIn !== undefined ? { expiresIn } : {}),
    ...(res.refresh_token ? { refreshToken: res.refresh_token } : {}),
    ...(res.id_token ? { idToken: res.id_token } : {}),
    ...(claims ? { claims } : {}),
  };
}
