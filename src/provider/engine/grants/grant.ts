/**
 * The Grant contract and its registry (STYLE.md habit 2: grants are registered, not switched).
 * Each grant declares its type and the parameters it reads; the token endpoint authenticates the
 * client, checks the client may use the grant, passes only declared parameters and dispatches
 * through the Map. Other work registers more grants (mfa_oob) with `engine.grants.register`.
 */
import type { Client } from '../clients.js';
import type { DialectProfile, Params } from '../authorize.js';
import type { Engine } from '../engine.js';

/** The token endpoint's success body (RFC 6749 §5.1; protocols.md T2). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
  /** RFC 8693 §2.2.1: what a token exchange issued */
  issued_token_type?: string;
}

export interface GrantContext {
  readonly engine: Engine;
  readonly client: Client;
  /** true when the client proved its secret; false for public clients and EIAM's secretless PKCE */
  readonly clientAuthenticated: boolean;
  /** only the parameters the grant declared */
  readonly params: Params;
  readonly profile: DialectProfile;
  /** the caller's address (brute-force counters) */
  readonly ip: string;
}

export interface Grant {
  readonly type: string;
  /** other grant_type values that name this grant (e.g. the Auth0 URI of mfa_oob); clients list `type` */
  readonly aliases?: readonly string[];
  /** the name clients list in `grants` when it is not `type` (RFC 8693's URN is `token_exchange`) */
  readonly clientGrant?: string;
  /** parameters the grant reads, besides client authentication */
  readonly params: readonly string[];
  /** May a confidential client omit its secret on this request? (EIAM: when it sends code_verifier) */
  allowsSecretless?(params: Params, profile: DialectProfile): boolean;
  handle(ctx: GrantContext): Promise<TokenResponse>;
}

export class GrantRegistry {
  private readonly grants = new Map<string, Grant>();

  register(grant: Grant): void {
    for (const name of [grant.type, ...(grant.aliases ?? [])]) this.grants.set(name, grant);
  }

  get(type: string): Grant | undefined {
    return this.grants.get(type);
  }

  /** grant types served, in registration order (discovery's grant_types_supported) */
  types(): string[] {
    return [...new Set([...this.grants.values()].map((g) => g.type))];
  }
}
