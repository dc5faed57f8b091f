/**
 * The Tencent OIDC dialect: both path families (CIAM and EIAM, families.ts) plus the shared login
 * page, registered on the provider's encapsulated, mount-prefixed instance by provider/plugin.ts.
 */
import type { FastifyInstance } from 'fastify';
import { authorizeRoutes } from './authorize.js';
import { discoveryRoutes } from './discovery.js';
import type { DialectContext } from './http.js';
import { loginRoutes } from './login.js';
import { logoutRoutes } from './logout.js';
import { resourceRoutes } from './resources.js';
import { tokenRoutes } from './token.js';

export async function oidcDialect(app: FastifyInstance, ctx: DialectContext): Promise<void> {
  for (const family of [ctx.ciam, ctx.eiam]) {
    ctx.engine.registerIssuer(family.profile.issuer);
    discoveryRoutes(app, ctx, family);
    authorizeRoutes(app, ctx, family);
    tokenRoutes(app, ctx, family);
    resourceRoutes(app, ctx, family);
    logoutRoutes(app, ctx, family);
  }
  loginRoutes(app, ctx);
}
