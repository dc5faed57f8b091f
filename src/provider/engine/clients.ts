/**
 * The client registry, built once from provider.clients. Secrets are hashed at start (SHA-256) and
 * compared in constant time; the token path costs one hash per request and never a password KDF
 * (client secrets are high-entropy, >= 16 chars by config validation).
 */
import { hash, timingSafeEqual } from 'node:crypto';
import type { ClientConfig } from '../../config/schema.js';
import { ProviderError } from './errors.js';

export type GrantType = ClientConfig['grants'][number];

export interface Client {
  readonly id: string;
  readonly name: string;
  /** No secret: a public client (SPA/native) that must use PKCE. */
  readonly isPublic: boolean;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris: readonly string[];
  readonly grants: ReadonlySet<string>;
  /** auth_source_id values associated with the client; empty: every source. */
  readonly authSources: readonly string[];
  /** Extra scopes the client may ask for (client_credentials and beyond the OIDC ones). */
  readonly scopes: readonly string[];
  readonly accessTokenFormat: 'jwt' | 'opaque';
  readonly backchannelLogoutUri: string;
  /** May call the OneAccess management API. */
  readonly management: boolean;
}

/** How the client presented itself (RFC 6749 §2.3.1, OIDC Core §9). */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export interface ClientCredentials {
  clientId: string | undefined;
  clientSecret: string | undefined;
  method: ClientAuthMethod;
}

const digest = (s: string) => hash('sha256', s, 'buffer');
/** Compared against when the client is unknown or public, so timing does not tell them apart. */
const DUMMY_DIGEST = digest('menshen: no such client');

export class ClientRegistry {
  private readonly byId = new Map<string, Client>();
  private readonly secretDigests = new Map<string, Buffer>();

  constructor(configs: readonly ClientConfig[]) {
    for (const c of configs) {
      this.byId.set(c.clientId, {
        id: c.clientId,
        name: c.name ?? c.clientId,
        isPublic: c.clientSecret === undefined,
        redirectUris: [...c.redirectUris],
        postLogoutRedirectUris: [...c.postLogoutRedirectUris],
        grants: new Set(c.grants),
        authSources: [...c.authSources],
        scopes: [...c.scopes],
        accessTokenFormat: c.accessTokenFormat,
        backchannelLogoutUri: c.backchannelLogoutUri,
        management: c.management,
      });
      if (c.clientSecret !== undefined) this.secretDigests.set(c.clientId, digest(c.clientSecret));
    }
  }

  get(clientId: string): Client | undefined {
    return this.byId.get(clientId);
  }

  all(): Client[] {
    return [...this.byId.values()];
  }

  /**
   * Authenticates a client at the token, revocation and introspection endpoints.
   * A confidential client must present its secret; a public one must present none (`method: none`).
   * `allowPublicLike`: EIAM lets a confidential client omit the secret when it proves PKCE instead
   * (protocols.md T2 a); the caller then must verify the code_verifier.
   */
  authenticate(creds: ClientCredentials, opts: { allowSecretless?: boolean } = {}): Client {
    const fail = (why: string) => new ProviderError('invalid_client', 'client authentication failed', { cause: why });
    if (!creds.clientId) throw fail('no client_id');
    const client = this.byId.get(creds.clientId);
    const expected = this.secretDigests.get(creds.clientId);
    if (creds.clientSecret !== undefined) {
      const ok = timingSafeEqual(digest(creds.clientSecret), expected ?? DUMMY_DIGEST);
      if (!client || !expected || !ok) throw fail('unknown client or wrong secret');
      return client;
    }
    if (!client) throw fail('unknown client');
    if (client.isPublic || opts.allowSecretless) return client;
    throw fail('confidential client without secret');
  }

  isRedirectUriRegistered(client: Client, uri: string): boolean {
    // Exact string match (OAuth 2.0 Security BCP §4.1.3): no prefix, no normalization.
    return client.redirectUris.includes(uri);
  }

  /** The client that registered this post-logout URI, if any (EIAM return_to, §5.6). */
  findByPostLogoutUri(uri: string): Client | undefined {
    for (const c of this.byId.values()) if (c.postLogoutRedirectUris.includes(uri)) return c;
    return undefined;
  }
}
