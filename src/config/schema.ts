/**
 * The one configuration schema: it is both the TypeScript type (`Config`) and the validator
 * (see validate.ts). Descriptions double as the configuration reference in README.md.
 * Defaults live here as named values so that the loader and the docs agree.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const Str = (description: string, extra: Record<string, unknown> = {}) =>
  Type.String({ description, ...extra });
const Bool = (description: string, def: boolean) => Type.Boolean({ description, default: def });
const Int = (description: string, def: number, min = 0) =>
  Type.Integer({ description, default: def, minimum: min });
const List = <T extends TSchema>(item: T, description: string) =>
  Type.Array(item, { description, default: [] });

export const ServerSchema = Type.Object(
  {
    listen: Str('host:port to listen on', { default: '0.0.0.0:8080' }),
    publicUrl: Str('how browsers reach the gateway (cookies, redirects), e.g. https://gw.example.com', {
      default: 'http://127.0.0.1:8080',
    }),
    trustProxy: Type.Union([Type.Boolean(), Type.Array(Type.String())], {
      description:
        'honour X-Forwarded-* only from these proxies: false (never), true (any: only behind a trusted LB), or a list of IPs/CIDRs',
      default: false,
    }),
    metricsListen: Type.Optional(Str('separate host:port for /metrics; absent: /metrics on the main port')),
    bodyLimit: Int('largest request body accepted, bytes', 65536, 1024),
    shutdownTimeout: Int('seconds to drain in-flight requests on SIGTERM', 25, 0),
    watchConfig: Bool('reload the configuration when its file changes (SIGHUP always reloads)', true),
  },
  { additionalProperties: false, default: {} },
);

export const RedisSchema = Type.Object(
  {
    url: Type.Optional(Str('standalone redis:// or rediss:// URL')),
    sentinel: Type.Optional(
      Type.Object(
        {
          name: Str('sentinel master name'),
          nodes: Type.Array(Type.String(), { minItems: 1, description: 'host:port of each sentinel' }),
          password: Type.Optional(Str('password of the Redis master/replicas')),
          sentinelUsername: Type.Optional(Str('ACL user name on the sentinels themselves')),
          sentinelPassword: Type.Optional(Str('password of the sentinels themselves')),
          db: Type.Optional(Type.Integer({ minimum: 0, description: 'database index' })),
        },
        { additionalProperties: false },
      ),
    ),
    cluster: Type.Optional(
      Type.Object(
        {
          nodes: Type.Array(Type.String(), { minItems: 1, description: 'host:port of cluster seed nodes' }),
          password: Type.Optional(Str('cluster password')),
        },
        { additionalProperties: false },
      ),
    ),
    username: Type.Optional(Str('ACL user name (Redis 6+) on the data nodes, in every mode')),
    password: Type.Optional(Str('password (standalone; sentinel and cluster have their own)')),
    tls: Bool('use TLS (implied by rediss://); with sentinel, for the sentinels and the master', false),
    tlsCaFile: Type.Optional(Str('PEM file of the CA that signed the Redis certificates; absent: the system CAs')),
    tlsServerName: Type.Optional(
      Str('name the Redis certificates carry, when nodes are reached by IP (Sentinel, Cluster); absent: the host connected to'),
    ),
    keyPrefix: Str('prefix of every key menshen writes; no { or } (Cluster hash tags)', {
      default: 'menshen:',
      pattern: '^[^{}]*$',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const StoreSchema = Type.Object(
  {
    type: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
      description: 'memory: one replica only; redis: shared by replicas',
      default: 'memory',
    }),
    redis: RedisSchema,
  },
  { additionalProperties: false, default: {} },
);

export const TokensSchema = Type.Object(
  {
    accessTtl: Int('access token lifetime, seconds', 300, 1),
    idTtl: Int('id token lifetime, seconds', 3600, 1),
    refreshTtl: Int('refresh token (family) lifetime, seconds', 2592000, 1),
    codeTtl: Int('authorization code lifetime, seconds (EIAM documents up to 600)', 60, 1),
    ssoTtl: Int('provider SSO login session lifetime, seconds', 28800, 1),
    signingAlg: Type.Union([Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('EdDSA')], {
      description: 'algorithm of the signing key generated when provider.keys is absent',
      default: 'RS256',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const AuthSourceSchema = Type.Object(
  {
    id: Str('auth_source_id as clients send it'),
    type: Type.Literal('password', { description: 'only password sources exist today' }),
    identifiers: Type.Array(
      Type.Union([Type.Literal('username'), Type.Literal('phone'), Type.Literal('email')]),
      { description: 'user attributes accepted as the username', default: ['username'], minItems: 1 },
    ),
  },
  { additionalProperties: false },
);

export const SmsSchema = Type.Object(
  {
    enabled: Bool('every password login of a user with a phone needs the SMS code', false),
    sender: Type.Union([Type.Literal('log'), Type.Literal('webhook')], {
      description: 'log (development: the code goes to the log) | webhook',
      default: 'log',
    }),
    webhook: Type.Object(
      {
        url: Str('POST {"phone","code","purpose","expiresIn"} as JSON here', { default: '' }),
        headers: Type.Record(Type.String(), Type.String(), { default: {}, description: 'extra request headers' }),
        timeoutMs: Int('webhook timeout, ms', 5000, 100),
      },
      { additionalProperties: false, default: {} },
    ),
    codeTtl: Int('SMS code / oob_code lifetime, seconds', 300, 1),
    maxAttempts: Int('wrong codes before the challenge ends', 5, 1),
    resendInterval: Int('seconds between two sends for one challenge', 60, 0),
    dailyLimit: Int('codes sent to one phone per day', 20, 1),
  },
  { additionalProperties: false, default: {} },
);

export const ClientSchema = Type.Object(
  {
    clientId: Str('client_id', { minLength: 1 }),
    clientSecret: Type.Optional(Str('absent: public client (PKCE S256 required)')),
    name: Type.Optional(Str('display name on the login page')),
    redirectUris: List(Type.String(), 'exact redirect URIs'),
    postLogoutRedirectUris: List(Type.String(), 'exact post-logout redirect URIs'),
    grants: Type.Array(
      Type.Union([
        Type.Literal('authorization_code'),
        Type.Literal('refresh_token'),
        Type.Literal('password'),
        Type.Literal('client_credentials'),
        Type.Literal('mfa_oob'),
        Type.Literal('token_exchange'), // RFC 8693, confidential clients only
        Type.Literal('implicit'), // EIAM response_type=token; discouraged (OAuth 2.1 drops it)
      ]),
      { description: 'grants this client may use', default: ['authorization_code', 'refresh_token'] },
    ),
    authSources: List(Type.String(), 'auth_source_id values associated with this client'),
    scopes: List(Type.String(), 'extra scopes this client may ask for (client_credentials)'),
    accessTokenFormat: Type.Union([Type.Literal('jwt'), Type.Literal('opaque')], {
      description: 'jwt | opaque (EIAM style)',
      default: 'jwt',
    }),
    backchannelLogoutUri: Str('OIDC back-channel logout target', { default: '' }),
    management: Bool('may call the OneAccess management API (/api/v2/tenant/*)', false),
  },
  { additionalProperties: false },
);

export const UserSchema = Type.Object(
  {
    username: Str('unique login name', { minLength: 1 }),
    passwordHash: Type.Optional(Str('from `menshen hash-password`')),
    email: Type.Optional(Str('email claim; may be used as the username')),
    phone: Type.Optional(Str('phone number (+86...); may be used as the username; gets the SMS code')),
    name: Type.Optional(Str('display name (name claim)')),
    nickname: Type.Optional(Str('nickname claim')),
    groups: List(Type.String(), 'group names'),
    status: Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('locked')], {
      description: 'disabled and locked users cannot sign in',
      default: 'active',
    }),
    mfa: Bool('false exempts this user from the SMS step', true),
  },
  { additionalProperties: false },
);

export const ProviderSchema = Type.Object(
  {
    issuer: Str('issuer URL; every provider path is mounted under its path'),
    hosts: List(Type.String(), 'serve the provider only on these Host values'),
    keys: Type.Optional(
      Type.Union([Type.String(), Type.Object({ keys: Type.Array(Type.Any()) })], {
        description: 'private JWK set (JSON string or object); absent: generated once, kept in the store',
      }),
    ),
    tokens: TokensSchema,
    authSources: Type.Array(AuthSourceSchema, {
      description: 'Tencent auth_source_id values',
      default: [{ id: 'password', type: 'password', identifiers: ['username', 'phone', 'email'] }],
    }),
    bruteForce: Type.Object(
      {
        perUserIp: Int('failed logins per username+IP within the window', 5, 1),
        perIp: Int('failed logins per IP within the window', 50, 1),
        perUser: Int('failed logins per account (every spelling of its login name) from all IPs within the window', 20, 1),
        window: Int('seconds', 900, 1),
      },
      { additionalProperties: false, default: {} },
    ),
    mfa: Type.Object({ sms: SmsSchema }, { additionalProperties: false, default: {} }),
    clients: List(ClientSchema, 'registered clients'),
    users: List(UserSchema, 'users seeded into the directory at start (upsert by username)'),
  },
  { additionalProperties: false },
);

export const RouteSchema = Type.Object(
  {
    name: Str('route name (assertion audience, metrics label)', { minLength: 1 }),
    match: Type.Object(
      {
        host: Type.Optional(Str('Host to match; absent: any host')),
        pathPrefix: Str('normalized path prefix', { default: '/' }),
      },
      { additionalProperties: false, default: {} },
    ),
    upstream: Str('absolute http(s) URL of the protected app'),
    auth: Type.Union([Type.Literal('required'), Type.Literal('optional'), Type.Literal('none')], {
      description: 'required: log in first; optional: identity headers when signed in; none: plain proxy',
      default: 'required',
    }),
    allow: Type.Object(
      {
        groups: List(Type.String(), 'any of these groups'),
        users: List(
          Type.String(),
          'any of these sub values; preferred_username values too only when the issuer is the built-in provider (an external issuer may let users choose or change usernames: use allow.claims.preferred_username there if you trust it)',
        ),
        claims: Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]), {
          default: {},
          description: 'claim name -> required value (or any of a list)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    publicPaths: List(Type.String(), 'path prefixes under this route that need no login'),
    headers: Type.Record(Type.String(), Type.String(), {
      default: {},
      description: 'extra upstream headers from claim templates, e.g. "{preferred_username}"',
    }),
    passAccessToken: Bool('send Authorization: Bearer <access token> upstream', false),
    websocket: Bool('allow websocket upgrades', false),
  },
  { additionalProperties: false },
);

export const GatewaySchema = Type.Object(
  {
    oidc: Type.Object(
      {
        issuer: Type.Optional(Str('OIDC issuer; default: the built-in provider')),
        clientId: Str('client_id of the gateway', { default: 'demo' }),
        clientSecret: Type.Optional(Str('client secret; absent: public client with PKCE')),
        scopes: Type.Array(Type.String(), {
          description: 'scopes the gateway asks for; offline_access gets a refresh token',
          default: ['openid', 'profile', 'email', 'offline_access'],
        }),
        insecureAllowUnverifiedEmail: Bool(
          'take the email claim even when the issuer does not mark it verified (email_verified true or "true"); off: an unverified email is absent from the identity: no X-Auth-Request-Email / X-Forwarded-Email, no {email} template, no allowed_emails / allowed_email_domains or claims match. Only for an issuer where nobody can choose an address they do not own',
          false,
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    session: Type.Object(
      {
        cookieName: Str('becomes __Host-<name> on https', { default: 'menshen' }),
        secret: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], {
          description: 'signs cookies; >= 32 bytes; a list allows rotation (first signs, all verify)',
        }),
        ttl: Int('absolute session lifetime, seconds', 28800, 60),
        idleTtl: Int('idle lifetime, seconds', 3600, 60),
        refreshBefore: Int('refresh when the access token expires within this, seconds', 60, 0),
      },
      { additionalProperties: false },
    ),
    bearer: Type.Object(
      {
        enabled: Bool('accept API clients sending Authorization: Bearer <JWT>, verified against the issuer JWKS', true),
        audiences: List(
          Type.String(),
          'aud values a bearer JWT must carry one of (the client ids or resource ids of the APIs behind the gateway); empty: no bearer login',
        ),
        acceptGatewayAudience: Bool(
          "also accept tokens whose aud is gateway.oidc.clientId: off by default, since the gateway's own access tokens go to passAccessToken upstreams, which could then replay them on every route",
          false,
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    assertionKeys: Type.Optional(
      Type.Union([Type.String(), Type.Object({ keys: Type.Array(Type.Any()) })], {
        description:
          'private JWK set (JSON string or object) signing X-Menshen-Assertion; absent: generated once and kept in the store sealed under gateway.session.secret (rotating every listed secret away means new keys)',
      }),
    ),
    loginRateLimit: Int(
      'logins a client IP may start per minute (each keeps a login transaction in the store for 5 minutes): 429 beyond; 0: no limit. Behind a proxy, set server.trustProxy so each client counts on its own',
      30,
      0,
    ),
    upstreamTimeouts: Type.Object(
      {
        connect: Int('seconds to open a connection to an upstream (TCP and TLS)', 10, 1),
        headers: Int('seconds an upstream may take to send its response headers (also the websocket handshake): 504 after', 30, 1),
        body: Int('seconds an upstream response body may stay idle between chunks before the connection is cut', 300, 1),
      },
      { additionalProperties: false, default: {} },
    ),
    routes: List(RouteSchema, 'protected routes, first match by longest prefix'),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    server: ServerSchema,
    store: StoreSchema,
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { description: 'pino level; the LOG_LEVEL environment variable overrides it', default: 'info' },
        ),
        pretty: Bool('human-readable logs (development only)', false),
      },
      { additionalProperties: false, default: {} },
    ),
    provider: Type.Optional(ProviderSchema),
    gateway: Type.Optional(GatewaySchema),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type ServerConfig = Static<typeof ServerSchema>;
export type StoreConfig = Static<typeof StoreSchema>;
export type RedisConfig = Static<typeof RedisSchema>;
export type ProviderConfig = Static<typeof ProviderSchema>;
export type ClientConfig = Static<typeof ClientSchema>;
export type UserConfig = Static<typeof UserSchema>;
export type AuthSourceConfig = Static<typeof AuthSourceSchema>;
export type SmsConfig = Static<typeof SmsSchema>;
export type GatewayConfig = Static<typeof GatewaySchema>;
export type RouteConfig = Static<typeof RouteSchema>;
