/**
 * Mounts the built-in OpenID Provider: builds the engine (keys, directory seed), then registers
 * every dialect on one encapsulated instance prefixed with the path of provider.issuer and, with
 * provider.hosts set, constrained to those Host values (other hosts fall through to the gateway).
 * Errors inside that instance, fastify's own included (bad body, 413, 415), are answered as
 * `{"error","error_description"}` JSON with a 4xx, or a logged 500 `server_error`.
 *
 * Other parts reach the engine as `app.menshenProvider.engine`. To add a dialect, append it to
 * DIALECTS (one line).
 */
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance } from 'fastify';
import { providerMountPath } from '../config/validate.js';
import { StoreUnavailableError } from '../store/store.js';
import { Engine } from './engine/engine.js';
import { isProviderError } from './engine/errors.js';
import { sm3Available } from './engine/pkce.js';
import type { Dialect, DialectContext } from './dialect.js';
import { families } from './dialects/oidc/families.js';
import { oidcDialect } from './dialects/oidc/index.js';
import { smsMfaDialect } from './dialects/oidc/sms-mfa.js';
import { ssoDialect } from './dialects/sso/index.js';
import { JSON_TYPE } from './dialects/oidc/http.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The built-in provider (present when config.provider is set). */
    menshenProvider: DialectContext;
  }
}

/** Every dialect served under the mount. */
const DIALECTS: Dialect[] = [oidcDialect, smsMfaDialect, ssoDialect];

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Host header values (with an optional port) the provider answers on. */
export function hostConstraint(hosts: readonly string[]): RegExp {
  return new RegExp(`^(?:${hosts.map((h) => escapeRegExp(h.toLowerCase())).join('|')})(?::\\d{1,5})?$`, 'i');
}

export const providerPlugin = fp(
  async function provider(app: FastifyInstance) {
    const { config, store, clock, metrics, readiness } = app.menshen;
    const cfg = config.provider!;
    const log = app.log.child({ part: 'provider' });
    const engine = await Engine.create({ config: cfg, store, clock, log });
    if (!sm3Available())
      log.warn({}, 'node:crypto has no sm3 hash: EIAM PKCE with code_challenge_method=SM3 is answered 400 invalid_request (S256 works)');
    const mount = providerMountPath(cfg.issuer);
    const fams = families(cfg.issuer);
    const ctx: DialectContext = {
      engine,
      ...fams,
      mount,
      cookies: { path: mount || '/', secure: new URL(cfg.issuer).protocol === 'https:' },
      metrics,
    };
    app.decorate('menshenProvider', ctx);

    // Without configured keys every replica must sign with the set kept in the store; a flushed or
    // replaced store would split them, so readiness fails until the replicas restart and agree.
    readiness.set('keys', async () => {
      if (cfg.keys) return;
      const stored = await store.get('provider:jwks');
      if (!stored) throw new Error('signing keys missing from the store');
      const kids = ((JSON.parse(stored) as { keys?: Array<{ kid?: string }> }).keys ?? []).map((k) => k.kid);
      if (kids[0] !== engine.keys.kid) throw new Error('signing keys in the store differ from this replica\'s');
    });

    await app.register(
      async (scoped) => {
        if (cfg.hosts.length) {
          const host = hostConstraint(cfg.hosts);
          scoped.addHook('onRoute', (route) => {
            route.constraints = { ...route.constraints, host };
          });
        }
        scoped.setErrorHandler((err: FastifyError, req, reply) => {
          if (err instanceof StoreUnavailableError) {
            req.log.error({ err: err.cause }, 'store unavailable');
            return reply.code(503).type(JSON_TYPE).send(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'store unavailable' }));
          }
          const status = isProviderError(err) ? 400 : err.statusCode;
          if (status !== undefined && status >= 400 && status < 500) {
            return reply
              .code(status)
              .type(JSON_TYPE)
              .send(JSON.stringify({ error: 'invalid_request', error_description: isProviderError(err) ? err.detail : err.message }));
          }
          req.log.error({ err }, 'provider error');
          return reply.code(500).type(JSON_TYPE).send(JSON.stringify({ error: 'server_error', error_description: 'internal error' }));
        });
        for (const dialect of DIALECTS) await dialect(scoped, ctx);
      },
      { prefix: mount },
    );
  },
  { name: 'menshen-provider' },
);
