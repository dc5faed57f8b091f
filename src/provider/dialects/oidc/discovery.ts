/**
 * Discovery (T5, OIDC Discovery 1.0, RFC 8414) and JWKS (T6), one document per family. Each
 * advertises that family's real URLs (never CIAM URLs on the EIAM document, §5.12), every grant the
 * engine actually serves (registry order; password and mfa_oob once registered; `implicit` on EIAM when a
 * client uses it), and the standard
 * members openid-client and the gateway use (userinfo, end_session, revocation, introspection,
 * PKCE methods, back-channel logout).
 */
import type { FastifyInstance } from 'fastify';
import { availablePkceMethods } from '../../engine/pkce.js';
import { CLAIMS_SUPPORTED, OIDC_SCOPES } from '../../engine/scopes.js';
import type { Family } from './families.js';
import { sendJson, type DialectContext } from './http.js';

const CACHE = 'public, max-age=300';

export function discoveryDocument(ctx: DialectContext, family: Family): Record<string, unknown> {
  const { engine } = ctx;
  const u = family.url;
  const authMethods = ['client_secret_basic', 'client_secret_post', 'none'];
  const scopes = [...new Set([...OIDC_SCOPES, ...engine.clients.all().flatMap((c) => c.scopes)])];
  // EIAM serves the implicit flow to the clients that list it (engine/implicit.ts); CIAM never.
  const implicit = family.name === 'eiam' && engine.clients.all().some((c) => c.grants.has('implicit'));
  return {
    issuer: family.profile.issuer,
    authorization_endpoint: u(family.paths.authorize),
    token_endpoint: u(family.paths.token),
    userinfo_endpoint: u(family.paths.userinfo),
    jwks_uri: u(family.paths.jwks),
    end_session_endpoint: u(family.paths.logout),
    revocation_endpoint: u(family.paths.revoke),
    introspection_endpoint: u(family.paths.introspect),
    response_types_supported: implicit ? ['code', 'token'] : ['code'],
    response_modes_supported: implicit ? ['query', 'fragment'] : ['query'],
    // RFC 8414 §2: `implicit` names the flow behind response_type=token even though it has no token
    // endpoint grant; §5.12: list every grant the provider serves.
    grant_types_supported: implicit ? [...engine.grants.types(), 'implicit'] : engine.grants.types(),
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: engine.keys.algs,
    token_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: availablePkceMethods(family.profile.pkceMethods),
    scopes_supported: scopes,
    claims_supported: CLAIMS_SUPPORTED,
    prompt_values_supported: ['none', 'login'],
    ui_locales_supported: ['zh-CN', 'en'],
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    frontchannel_logout_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    claims_parameter_supported: false,
  };
}

export function discoveryRoutes(app: FastifyInstance, ctx: DialectContext, family: Family): void {
  app.get(family.paths.discovery, async (_req, reply) => sendJson(reply, 200, discoveryDocument(ctx, family), { 'cache-control': CACHE }));
  app.get(family.paths.jwks, async (_req, reply) => sendJson(reply, 200, ctx.engine.keys.publicJwks, { 'cache-control': CACHE }));
}
