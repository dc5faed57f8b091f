/**
 * panva's oidc-provider started on 127.0.0.1 as an EXTERNAL issuer for the gateway: proves the
 * gateway works with any standard OpenID Provider, not only menshen's own.
 *
 * - Its signing key is ours (tests sign their own logout tokens with it).
 * - The login "page" is a tiny form at /interaction/:uid: POST login=<username> signs that user in
 *   and grants every requested scope (so programmatic logins and Chromium share one path).
 * - Counts token grants by grant_type at the provider (the 'grant.success' event): the concurrent
 *   refresh test counts refresh grants where they happen.
 * - stop()/start() take the issuer off the network and back on the same port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { freePort } from '../../helpers/redis-server.js';

export interface TestUser {
  username: string;
  email?: string;
  /** The email_verified claim sent with email; default true. 'omit' sends no email_verified at all. */
  emailVerified?: boolean | string | 'omit';
  /** The preferred_username claim; default username (an external issuer may let users choose it). */
  preferredUsername?: string;
  groups?: string[];
  name?: string;
}

export interface IssuerOptions {
  /** Gateway base URLs whose /_menshen/callback (and back-channel logout) are registered. */
  gatewayBases: string[];
  clientId?: string;
  clientSecret?: string;
  users?: TestUser[];
  accessTtl?: number;
  port?: number;
}

export interface TestIssuer {
  url: string;
  port: number;
  clientId: string;
  clientSecret: string;
  users: Map<string, TestUser>;
  /** Token grants by grant_type, counted at the provider. */
  grants: Record<string, number>;
  /** Back-channel logout deliveries that failed (their error messages). */
  backchannelErrors: string[];
  /** Requests to the revocation endpoint (RFC 7009) that the issuer answered 200. */
  revocations: { count: number };
  subOf(username: string): string;
  /** Signs a JWT with the issuer's own key (logout tokens, bearer tokens). */
  sign(claims: Record<string, unknown>, typ?: string): Promise<string>;
  /**
   * Holds the token endpoint's next answers until release(): the grant is done (tokens issued,
   * a refresh token rotated) but the response waits, so a refresh stays "at the issuer" for as
   * long as a test needs (no sleeps). `arrived` resolves when the first answer is being held.
   */
  holdTokenEndpoint(): { arrived: Promise<void>; release(): void };
  /** Destroys every grant: their refresh tokens now get invalid_grant. */
  revokeAllGrants(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

const DEFAULT_USERS: TestUser[] = [
  { username: 'alice', email: 'alice@example.com', groups: ['staff'], name: 'Alice' },
  { username: 'bob', email: 'bob@example.com', groups: ['contractors'], name: 'Bob' },
];

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startIssuer(t: Teardownable, opts: IssuerOptions): Promise<TestIssuer> {
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const clientId = opts.clientId ?? 'gw';
  const clientSecret = opts.clientSecret ?? 'gw-client-secret-0123456789abcdef';
  const users = new Map((opts.users ?? DEFAULT_USERS).map((u) => [u.username, u]));
  const subOf = (username: string) => `sub-${username}`;
  const bySub = (sub: string) => [...users.values()].find((u) => subOf(u.username) === sub);

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
  const signingKey = await importJWK(privateJwk, 'RS256');

  const grantIds: string[] = [];
  const provider = new Provider(url, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: opts.gatewayBases.map((b) => `${b}/_menshen/callback`),
        post_logout_redirect_uris: opts.gatewayBases.flatMap((b) => [`${b}/`, `${b}/bye`]),
        grant_types: ['authorization_code', 'refresh_token'],
        backchannel_logout_uri: `${opts.gatewayBases[0]}/_menshen/backchannel-logout`,
        backchannel_logout_session_required: true,
      },
    ],
    jwks: { keys: [privateJwk] },
    cookies: { keys: ['test-issuer-cookie-key-0123456789'] },
    claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email', 'email_verified'], groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    // The gateway reads identity from the id token: put the scopes' claims there too.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(g: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    // Every refresh rotates the token: a second use of the old one fails, as strict issuers do.
    rotateRefreshToken: true,
    ttl: { AccessToken: opts.accessTtl ?? 300, IdToken: 3600, RefreshToken: 86400, Grant: 86400, Session: 86400, Interaction: 600 },
    // oidc-provider refuses loopback targets (SSRF protection) through its dispatcher; the test
    // gateway lives on 127.0.0.1, so its back-channel logout calls go out without it.
    fetch: (target: string, init: RequestInit & { dispatcher?: unknown }) => {
      const { dispatcher: _ssrfGuard, ...rest } = init;
      return globalThis.fetch(target, rest);
    },
    findAccount: async (_ctx: unknown, sub: string) => {
      const u = bySub(sub);
      if (!u) return undefined;
      return {
        accountId: sub,
        claims: async () => ({
          sub,
          preferred_username: u.preferredUsername ?? u.username,
          ...(u.name ? { name: u.name } : {}),
          ...(u.email ? { email: u.email } : {}),
          ...(u.email && u.emailVerified !== 'omit' ? { email_verified: u.emailVerified ?? true } : {}),
          ...(u.groups ? { groups: u.groups } : {}),
        }),
      };
    },
  });
  const grants: Record<string, number> = {};
  provider.on('grant.success', (ctx: { oidc: { params: { grant_type: string } } }) => {
    const g = ctx.oidc.params.grant_type;
    grants[g] = (grants[g] ?? 0) + 1;
  });
  const backchannelErrors: string[] = [];
  const revocations = { count: 0 };
  let hold: { arrived: () => void; gate: Promise<void> } | null = null;
  provider.use(async (ctx: { path: string; method: string; status: number }, next: () => Promise<void>) => {
    await next();
    if (hold && ctx.path === '/token' && ctx.method === 'POST') {
      const h = hold;
      h.arrived();
      await h.gate;
    }
    if (ctx.path === '/token/revocation' && ctx.method === 'POST' && ctx.status === 200) revocations.count++;
  });
  provider.on('backchannel.error', (_ctx: unknown, err: Error) => backchannelErrors.push(err.message));

  const loginForm = (uid: string, error = '') =>
    `<!doctype html><title>test issuer login</title>${error ? `<p id="error">${error}</p>` : ''}<form method="post" action="/interaction/${uid}"><label>Username <input name="login" autofocus></label><button type="submit">Sign in</button></form>`;

  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
    if (req.method === 'GET') {
      await provider.interactionDetails(req, res);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginForm(uid));
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const user = users.get(form.get('login') ?? '');
    if (!user) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginForm(uid, 'unknown user'));
      return;
    }
    const details = await provider.interactionDetails(req, res);
    const grant = new provider.Grant({ accountId: subOf(user.username), clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope));
    const grantId: string = await grant.save();
    grantIds.push(grantId);
    await provider.interactionFinished(req, res, { login: { accountId: subOf(user.username) }, consent: { grantId } }, { mergeWithLastSubmission: false });
  }

  const callback = provider.callback();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/interaction\/([^/?]+)/.exec(req.url ?? '');
    if (m) {
      interaction(req, res, m[1]!).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500).end(err.message);
      });
      return;
    }
    callback(req, res);
  };

  let server: Server | undefined;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer(handler);
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server) return resolve();
      const s = server;
      server = undefined;
      s.close(() => resolve());
      s.closeAllConnections();
    });
  await start();
  t.teardown(stop);

  return {
    url,
    port,
    clientId,
    clientSecret,
    users,
    grants,
    backchannelErrors,
    revocations,
    subOf,
    sign: (claims, typ = 'JWT') =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: privateJwk.kid!, typ }).sign(signingKey),
    holdTokenEndpoint: () => {
      let arrived!: () => void;
      let release!: () => void;
      const arrival = new Promise<void>((r) => (arrived = r));
      const gate = new Promise<void>((r) => (release = r));
      hold = { arrived, gate };
      return {
        arrived: arrival,
        release: () => {
          hold = null;
          release();
        },
      };
    },
    revokeAllGrants: async () => {
      for (const id of grantIds.splice(0)) {
        const grant = await provider.Grant.find(id);
        await grant?.destroy();
      }
    },
    stop,
    start,
  };
}
