/**
 * Benchmark child: panva's oidc-provider v9 configured like menshen's provider (fixture.ts):
 * the same client, user, scopes and RSA key; RS256 JWT access tokens (oidc-provider issues JWT
 * access tokens only for a resource server, so every grant carries one resource indicator,
 * `urn:menshen:bench`, used by default: features.resourceIndicators), or with
 * accessTokenFormat 'opaque' the same resource server issuing opaque ones (oidc-provider's
 * default format, stored through the adapter); refresh tokens rotated on every use
 * (rotateRefreshToken: true; a rotated token presented again revokes the grant).
 *
 * Storage: oidc-provider's own memory adapter (lib/adapters/memory_adapter.js) with its LRU
 * raised from the default 1,000 entries, which would evict the pre-minted handles, to 10M.
 *
 * `mint` creates one-time handles through its models, as its authorization endpoint does: a Grant
 * per handle (one login each), then an AuthorizationCode or a RefreshToken bound to it.
 */
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
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

export const RESOURCE = 'urn:menshen:bench';

/** The parts of oidc-provider used here (the package ships no types). */
interface Model {
  save(): Promise<string>;
}
type ModelClass = new (fields: Record<string, unknown>) => Model;
interface GrantModel extends Model {
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
}
interface OidcProvider {
  Grant: new (fields: Record<string, unknown>) => GrantModel;
  AuthorizationCode: ModelClass;
  RefreshToken: ModelClass;
  Client: { find(id: string): Promise<unknown> };
  callback(): (req: unknown, res: unknown) => void;
}
type ProviderClass = new (issuer: string, config: Record<string, unknown>) => OidcProvider;

// oidc-provider has no "exports" map, so its memory adapter and LRU can be imported by path.
const require = createRequire(import.meta.url);
const pkgDir = require.resolve('oidc-provider/package.json').replace(/package\.json$/, '');
const load = async <T>(rel: string): Promise<T> => ((await import(pathToFileURL(pkgDir + rel).href)) as { default: T }).default;

export type OidcProviderOptions = ProviderServerOptions;

void serveChild<ProviderReady>(async () => {
  const opts = childOptions<OidcProviderOptions>();
  const Provider = await load<ProviderClass>('lib/index.js');
  const MemoryAdapter = await load<new (model: string, store: unknown) => unknown>('lib/adapters/memory_adapter.js');
  const LRU = await load<new (o: { maxSize: number }) => unknown>('lib/helpers/lru.js');
  const storage = new LRU({ maxSize: 10_000_000 });

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const resourceServer = {
    scope: 'api',
    accessTokenFormat: opts.accessTokenFormat,
    accessTokenTTL: ACCESS_TTL,
    jwt: { sign: { alg: 'RS256' } },
  };
  const provider = new Provider(base, {
    adapter: (model: string) => new MemoryAdapter(model, storage),
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: opts.jwks,
    cookies: { keys: ['bench-cookie-signing-key-not-secret'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'groups'],
    },
    findAccount: async (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: async () => ({ sub, email: USER.email, email_verified: true, name: USER.name, preferred_username: USER.username, groups: [...USER.groups] }),
    }),
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => resourceServer,
      },
    },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: ACCESS_TTL,
      IdToken: ACCESS_TTL,
      AuthorizationCode: 600,
      RefreshToken: REFRESH_TTL,
      Grant: REFRESH_TTL,
      Session: REFRESH_TTL,
      Interaction: 600,
    },
  });
  const server = createServer(provider.callback() as Parameters<typeof createServer>[0]);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  const client = await provider.Client.find(CLIENT_ID);
  if (!client) throw new Error('client not registered');
  const scope = [...SCOPE].join(' ');

  async function newGrant(): Promise<string> {
    const grant = new provider.Grant({ accountId: USER.username, clientId: CLIENT_ID });
    grant.addOIDCScope(scope);
    grant.addResourceScope(RESOURCE, resourceServer.scope);
    return grant.save();
  }

  async function mintCode(): Promise<string> {
    const grantId = await newGrant();
    return new provider.AuthorizationCode({
      accountId: USER.username,
      client,
      grantId,
      scope: `${scope} ${resourceServer.scope}`,
      resource: RESOURCE,
      redirectUri: REDIRECT_URI,
      codeChallenge: PKCE_CHALLENGE,
      codeChallengeMethod: 'S256',
      authTime: Math.floor(Date.now() / 1000),
      amr: ['pwd'],
      expiresWithSession: false,
    }).save();
  }

  async function mintRefreshToken(): Promise<string> {
    const grantId = await newGrant();
    return new provider.RefreshToken({
      accountId: USER.username,
      client,
      grantId,
      scope: `${scope} ${resourceServer.scope}`,
      resource: RESOURCE,
      authTime: Math.floor(Date.now() / 1000),
      amr: ['pwd'],
      gty: 'authorization_code',
      rotations: 0,
      expiresWithSession: false,
    }).save();
  }

  return {
    ready: { url: base, tokenEndpoint: `${base}/token`, label: 'oidc-provider 9 (memory adapter)' },
    ops: {
      mint: (args: MintArgs) => mintInBatches(args, mintCode, mintRefreshToken),
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
});
