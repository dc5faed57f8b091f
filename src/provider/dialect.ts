/**
 * The dialect seam (STYLE.md §2 "Dialect"): a dialect is a function that adds its routes to the
 * provider's encapsulated instance, which is already prefixed with the mount path (so a dialect
 * declares `/sso/token/`, served at `{issuer path}/sso/token/`), limited to provider.hosts, and
 * given the shared context. It maps engine errors (`ProviderError.kind`) to its own wire strings
 * in one module of its own.
 */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../ops/metrics.js';
import type { Engine } from './engine/engine.js';
import type { CookieScope } from './dialects/oidc/cookies.js';
import type { Family } from './dialects/oidc/families.js';

export interface DialectContext {
  readonly engine: Engine;
  /** the CIAM family: its profile.issuer is provider.issuer (canonical form) */
  readonly ciam: Family;
  /** the EIAM family, issuer `{provider.issuer}/auth` */
  readonly eiam: Family;
  /** the provider mount path ('' at the root) */
  readonly mount: string;
  /** path and Secure flag of provider cookies */
  readonly cookies: CookieScope;
  readonly metrics: Metrics;
}

export type Dialect = (app: FastifyInstance, ctx: DialectContext) => Promise<void>;
