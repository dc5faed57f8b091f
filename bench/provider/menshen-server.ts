/**
 * Benchmark child: menshen's built-in provider alone (no gateway), on 127.0.0.1, with the
 * fixture's client and user. `mint` creates one-time handles through the engine's own API:
 * codes as the authorize endpoint issues them under a provider SSO session (engine.sessions.create
 * + engine.issueCode, one session per code as one login each), refresh tokens as a code exchange
 * leaves them (engine.refresh.writes: the family record and its current token; the first access
 * token is not signed, which only saves minting time and is not part of the timed request).
 */
import { randomUUID } from 'node:crypto';
import { buildApp } from '../../src/app.js';
import { configFromObject } from '../../src/config/load.js';
import { hashHandle, randomHandle } from '../../src/crypto/secrets.js';
import type { AuthorizationRequest } from '../../src/provider/engine/authorize.js';
import type { RefreshRecord } from '../../src/provider/engine/refresh-families.js';
import { freePort } from '../../test/helpers/redis-server.js';
import { childOptions, serveChild } from '../lib/child-main.js';
import {
  ACCESS_TTL,
  CLIENT_ID,
  CLIENT_SECRET,
  PKCE_CHALLENGE,
  REDIRECT_URI,
  REFRESH_TTL,
  SCOPE,
  USER,
  type MintArgs,
  type ProviderReady,
  type ProviderServerOptions,
} from './fixture.js';
import { mintInBatches } from './mint.js';

export interface MenshenProviderOptions extends ProviderServerOptions {
  /** absent: the memory store */
  redisUrl?: string;
  /** key prefix on a shared Redis */
  keyPrefix?: string;
}

void serveChild<ProviderReady>(async () => {
  const opts = childOptions<MenshenProviderOptions>();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const issuer = `${base}/idp`;
  const config = configFromObject(
    {
      server: { listen: `127.0.0.1:${port}`, publicUrl: base, watchConfig: false },
      store: opts.redisUrl
        ? { type: 'redis', redis: { url: opts.redisUrl, keyPrefix: opts.keyPrefix ?? `bench:${randomUUID()}:` } }
        : { type: 'memory' },
      // The access log is an info line per request; benchmarks run at warn, like oidc-provider
      // (which logs nothing). Metrics stay on: production always has them.
      log: { level: 'warn' },
      provider: {
        issuer,
        keys: opts.jwks,
        tokens: { accessTtl: ACCESS_TTL, idTtl: ACCESS_TTL, refreshTtl: REFRESH_TTL, codeTtl: 600 },
        clients: [
          {
            clientId: CLIENT_ID,
            clientSecret: CLIENT_SECRET,
            redirectUris: [REDIRECT_URI],
            grants: ['authorization_code', 'refresh_token'],
            accessTokenFormat: opts.accessTokenFormat,
          },
        ],
        users: [{ ...USER, groups: [...USER.groups], mfa: false }],
      },
    },
    {},
  );
  const app = await buildApp(config);
  await app.listen({ host: '127.0.0.1', port });
  const engine = app.menshenProvider.engine;
  const user = await engine.directory.findByUsername(USER.username);
  if (!user) throw new Error('seeded user missing');
  const client = engine.clients.get(CLIENT_ID)!;

  const request: AuthorizationRequest = {
    clientId: CLIENT_ID,
    redirectUri: REDIRECT_URI,
    redirectUriSent: true,
    scope: [...SCOPE],
    pkce: { challenge: PKCE_CHALLENGE, method: 'S256' },
    prompt: [],
    issuer,
  };

  async function mintCode(): Promise<string> {
    const { session } = await engine.sessions.create(user!.id, ['pwd']);
    const code = new URL(await engine.issueCode(request, session)).searchParams.get('code');
    if (!code) throw new Error('issueCode returned no code');
    return code;
  }

  async function mintRefreshToken(): Promise<string> {
    const now = engine.nowSeconds();
    const { session } = await engine.sessions.create(user!.id, ['pwd']);
    const record: RefreshRecord = {
      fid: randomHandle(16),
      cid: client.id,
      uid: user!.id,
      scope: [...SCOPE],
      sid: session.sid,
      authTime: now,
      amr: ['pwd'],
      exp: now + REFRESH_TTL,
    };
    const token = randomHandle();
    await Promise.all([...engine.refresh.writes(record, hashHandle(token), `j:${randomUUID()}`), engine.sessionIndex.addFamily(session.sid, record.fid)]);
    return token;
  }

  return {
    ready: {
      url: base,
      tokenEndpoint: `${issuer}/oauth2/token`,
      label: `menshen (${opts.redisUrl ? 'Redis store' : 'memory store'})`,
    },
    ops: {
      mint: (args: MintArgs) => mintInBatches(args, mintCode, mintRefreshToken),
    },
    close: () => app.close(),
  };
});
