/**
 * The QingCloud AppCenter `/sso/*` dialect (protocols.md §3, §5.10; seed 003): authorize, token,
 * check_token, refresh_token on the engine's codes, tokens and refresh families. Registered in
 * provider/plugin.ts's DIALECTS, so its paths live under the provider mount and provider.hosts.
 */
import type { FastifyInstance } from 'fastify';
import type { DialectContext } from '../../dialect.js';
import { ssoAuthorizeRoutes } from './authorize.js';
import { ssoCheckTokenRoutes } from './check-token.js';
import { SsoCredentials } from './credentials.js';
import { ssoProfile, type SsoContext } from './http.js';
import { ssoRefreshRoutes } from './refresh.js';
import { ssoTokenRoutes } from './token.js';

export async function ssoDialect(app: FastifyInstance, ctx: DialectContext): Promise<void> {
  const sso: SsoContext = { dialect: ctx, profile: ssoProfile(ctx), credentials: new SsoCredentials(ctx.engine.store, ctx.engine.clock) };
  ssoAuthorizeRoutes(app, sso);
  ssoTokenRoutes(app, sso);
  ssoCheckTokenRoutes(app, sso);
  ssoRefreshRoutes(app, sso);
}
