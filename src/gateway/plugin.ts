/**
 * The reverse proxy (DESIGN §4): wires the gateway's parts (gateway.ts) to its entry points.
 *
 *   /_menshen/login?rd=          start a login (nginx error_page target)
 *   /_menshen/callback           the OIDC redirect URI
 *   /_menshen/logout             POST: end the session, revoke, RP-initiated logout; GET: a confirmation page
 *   /_menshen/backchannel-logout OIDC Back-Channel Logout 1.0
 *   /_menshen/auth               forward-auth (nginx auth_request, Traefik ForwardAuth)
 *   /_menshen/userinfo           the signed-in identity as JSON
 *   /_menshen/jwks               the keys that verify X-Menshen-Assertion
 *   everything else              the catch-all proxy (proxy.ts), and websocket upgrades (websocket.ts)
 *
 * The proxy lives in its own encapsulated scope whose only body "parser" passes the raw stream
 * through, so request bodies are streamed upstream untouched and unbuffered; the gateway's own
 * endpoints keep the app's parsers (the back-channel logout is a form POST).
 * A config reload swaps the compiled route table; session and issuer settings need a restart.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GATEWAY_PREFIX } from '../config/validate.js';
import { buildGateway, type Gateway } from './gateway.js';
import { compileRoutes } from './routes.js';
import { proxyHandler } from './proxy.js';
import { WebsocketProxy } from './websocket.js';
import { forwardAuthHandler } from './forward-auth.js';
import { backchannelLogoutHandler, logoutHandler, logoutPageHandler } from './logout.js';
import { sendGatewayError } from './errors.js';

function guarded(gw: Gateway, fn: (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      return await fn(req, reply);
    } catch (err) {
      return sendGatewayError(err, req, reply, gw.errors);
    }
  };
}

export const gatewayPlugin = fp(
  async function gateway(app: FastifyInstance) {
    const gw = buildGateway(app);
    const websockets = new WebsocketProxy(gw, app.log);

    app.menshen.readiness.set('issuer', async () => {
      await gw.rp.discover();
    });
    // Routes change live (a table swap; a table that does not compile refuses the reload). The
    // session, issuer and bearer settings are fixed at start: ops/reload.ts reports those changes
    // as needing a restart.
    app.menshen.reloaders.push((next) => {
      if (!next.gateway) throw new Error('the gateway cannot be removed by a reload: restart instead');
      gw.swapRoutes(compileRoutes(next.gateway.routes));
    });
    // Discovery waits for readiness: with the built-in provider it is answered by this app's inject.
    app.addHook('onReady', async () => {
      setImmediate(() => gw.rp.start());
    });
    app.server.on('upgrade', websockets.onUpgrade);
    // preClose: before the server waits for its connections, which upgraded sockets would hold open.
    app.addHook('preClose', async () => {
      gw.rp.close();
      app.server.off('upgrade', websockets.onUpgrade);
      websockets.closeAll();
    });
    // After the server stopped taking requests and drained them: the pooled upstream connections.
    app.addHook('onClose', async () => {
      await gw.upstreams.close();
    });

    const p = GATEWAY_PREFIX;
    app.get(`${p}/login`, guarded(gw, (req, reply) => {
      const rd = (req.query as Record<string, unknown>).rd;
      return gw.login.start(req, reply, typeof rd === 'string' ? rd : '/');
    }));
    app.get(`${p}/callback`, guarded(gw, (req, reply) => gw.login.callback(req, reply)));
    app.get(`${p}/logout`, logoutPageHandler(gw));
    app.post(`${p}/logout`, logoutHandler(gw));
    app.post(`${p}/backchannel-logout`, backchannelLogoutHandler(gw));
    app.route({ method: ['GET', 'HEAD', 'POST'], url: `${p}/auth`, exposeHeadRoute: false, handler: forwardAuthHandler(gw) });
    app.get(`${p}/userinfo`, guarded(gw, async (req, reply) => {
      const who = await gw.auth.authenticate(req.headers);
      reply.header('cache-control', 'no-store');
      if (!who) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', error_description: 'login required' });
      const id = who.identity;
      return reply.send({ ...id.claims, sub: id.sub, preferred_username: id.preferred_username, email: id.email, groups: id.groups ?? [] });
    }));
    app.get(`${p}/jwks`, guarded(gw, async (_req, reply) =>
      reply.header('cache-control', 'public, max-age=300').send(await gw.assertions.jwks())));

    await app.register(async function proxyScope(scope) {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
      const handler = proxyHandler(gw);
      scope.all('/', handler);
      scope.all('/*', handler);
    });
  },
  { name: 'menshen-gateway' },
);
