/**
 * The two Tencent path families served from one engine (protocols.md §1 "Key finding"):
 *   CIAM: /oauth2/*, /userinfo, /logout, /.well-known/openid-configuration; S256 PKCE; issuer = provider.issuer
 *   EIAM: /auth/oauth2/*, /auth/sso/logout, /auth/.well-known/openid-configuration; SM3 or S256 PKCE,
 *         query-string parameters, EIAM error strings. Its issuer is `{provider.issuer}/auth`, so that
 *         its discovery document is valid where it is served (RFC 8414 §3.3: the issuer must match
 *         the URL the document was fetched from); tokens of either family validate at both.
 */
import type { DialectProfile } from '../../engine/authorize.js';

export type FamilyName = 'ciam' | 'eiam';

export interface Family {
  readonly name: FamilyName;
  readonly profile: DialectProfile;
  /** route paths relative to the provider mount */
  readonly paths: {
    readonly discovery: string;
    readonly jwks: string;
    readonly authorize: string;
    readonly token: string;
    readonly userinfo: string;
    readonly revoke: string;
    readonly introspect: string;
    readonly logout: string;
  };
  /** absolute URL of a path of this family */
  url(path: string): string;
}

/** The issuer as openid-client compares it: the URL's href (a bare origin gains its '/'). */
export function canonicalIssuer(configured: string): string {
  return new URL(configured).href;
}

export function families(configuredIssuer: string): { ciam: Family; eiam: Family } {
  const issuer = canonicalIssuer(configuredIssuer);
  const base = issuer.replace(/\/+$/, '');
  const make = (name: FamilyName, iss: string, prefix: string, profile: Omit<DialectProfile, 'issuer'>, logout: string, userinfo: string): Family => ({
    name,
    profile: { ...profile, issuer: iss },
    paths: {
      discovery: `${prefix}/.well-known/openid-configuration`,
      jwks: `${prefix}/oauth2/jwks`,
      authorize: `${prefix}/oauth2/authorize`,
      token: `${prefix}/oauth2/token`,
      userinfo,
      revoke: `${prefix}/oauth2/revoke`,
      introspect: `${prefix}/oauth2/introspect`,
      logout,
    },
    url: (path: string) => `${base}${path}`,
  });
  return {
    ciam: make(
      'ciam',
      issuer,
      '',
      { pkceMethods: ['S256'], redirectUriRequired: true, secretlessWithPkce: false, passwordGrantRefresh: true },
      '/logout',
      '/userinfo',
    ),
    eiam: make(
      'eiam',
      `${base}/auth`,
      '/auth',
      { pkceMethods: ['SM3', 'S256'], redirectUriRequired: false, secretlessWithPkce: true, passwordGrantRefresh: false },
      '/auth/sso/logout',
      '/auth/oauth2/userinfo',
    ),
  };
}
