/**
 * Authorization of a signed-in identity against a route's `allow` block and against forward-auth
 * query constraints. Pure: no I/O, no clock; the caller has already authenticated the identity.
 *
 * Route `allow` semantics (DESIGN §2, §4 "Policy"):
 * - an empty block (no users, no groups, no claims) admits any signed-in user;
 * - otherwise the user is admitted if ANY configured criterion holds:
 *     users:  `sub` equals an entry (exact, case-sensitive); `preferred_username` too only with
 *             PolicyOptions.usernames (the gateway sets it when its issuer is the built-in
 *             provider): OIDC Core §5.7 makes only iss+sub stable and unique, and an external
 *             issuer may let users pick or change their username (someone renames themselves
 *             'admin'). A username rule for an external issuer is an explicit
 *             `claims: { preferred_username: ... }`;
 *     groups: one of the identity's groups equals an entry (exact, case-sensitive);
 *     claims: EVERY listed claim matches (the claims criterion is one criterion, an AND of its entries);
 * - a claim matches when its value (a string, or a number/boolean compared by its decimal/`true`/
 *   `false` spelling, as YAML configs hold strings) equals the wanted string, or one of a wanted list;
 *   an array-valued claim matches when it contains a wanted value; objects, null and absent claims
 *   never match. Claim names are looked up as given first, then as a dotted path ('address.country').
 * - an identity without a `sub` is never admitted.
 */
import type { RouteConfig } from '../config/schema.js';

export interface Identity {
  sub: string;
  preferred_username?: string;
  /** Only an email the issuer marked verified (session.ts identityFromClaims), unless configured otherwise. */
  email?: string;
  groups?: string[];
  claims: Record<string, unknown>;
}

export type Decision = { allow: true } | { allow: false; reason: string };

const ALLOW: Decision = Object.freeze({ allow: true });
const deny = (reason: string): Decision => ({ allow: false, reason });

/** A claim by exact name, else by dotted path into nested objects; undefined when absent. */
export function claimValue(claims: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  if (!name.includes('.')) return undefined;
  let cur: unknown = claims;
  for (const part of name.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** The spelling a scalar claim is compared by; null for values that never match. */
function scalarText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return null;
}

function claimMatches(actual: unknown, wanted: string | readonly string[]): boolean {
  const accepted = typeof wanted === 'string' ? [wanted] : wanted;
  const values = Array.isArray(actual) ? actual : [actual];
  return values.some((v) => {
    const text = scalarText(v);
    return text !== null && accepted.includes(text);
  });
}

export interface PolicyOptions {
  /**
   * allow.users also matches `preferred_username`. Only for an issuer whose usernames are unique
   * and assigned by the operator (menshen's built-in provider); off: `sub` alone.
   */
  usernames: boolean;
}

const SUB_ONLY: PolicyOptions = Object.freeze({ usernames: false });

/** route allow: see the module comment for the exact semantics. */
export function authorize(allow: RouteConfig['allow'], id: Identity, opts: PolicyOptions = SUB_ONLY): Decision {
  if (!id.sub) return deny('identity has no subject');
  const users = allow.users ?? [];
  const groups = allow.groups ?? [];
  const claims = Object.entries(allow.claims ?? {});
  if (users.length === 0 && groups.length === 0 && claims.length === 0) return ALLOW;

  if (users.includes(id.sub) || (opts.usernames && id.preferred_username !== undefined && users.includes(id.preferred_username))) return ALLOW;
  if ((id.groups ?? []).some((g) => groups.includes(g))) return ALLOW;
  if (claims.length > 0 && claims.every(([name, wanted]) => claimMatches(claimValue(id.claims, name), wanted))) return ALLOW;
  return deny('not in the allowed users, groups or claims of this route');
}

/**
 * Splits a mailbox into local part and domain, or null unless it has exactly one '@' with text on
 * both sides: 'a@b@evil.com' passed oauth2-proxy's domain check (GHSA-c5c4-8r6x-56w3).
 * The domain is lowercased (RFC 5321 §2.4: domains are case-insensitive, local parts are not).
 */
export function parseEmail(email: string | undefined): { local: string; domain: string } | null {
  if (typeof email !== 'string') return null;
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@') || at === email.length - 1) return null;
  if (/[\s\u0000-\u001f\u007f]/.test(email)) return null;
  return { local: email.slice(0, at), domain: email.slice(at + 1).toLowerCase() };
}

/** Every value of a query parameter, comma-split, trimmed, empties dropped (oauth2-proxy semantics). */
function listParam(query: URLSearchParams, name: string): string[] {
  return query
    .getAll(name)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** 'example.com' matches exactly; '*.example.com' matches any subdomain (not the apex). */
function domainAllowed(domain: string, pattern: string): boolean {
  const p = pattern.toLowerCase();
  if (p.startsWith('*.')) return domain.endsWith(p.slice(1)) && domain.length > p.length - 1;
  return domain === p;
}

/**
 * Forward-auth query constraints (`/_menshen/auth?allowed_groups=a,b&allowed_emails=x@y`), applied on
 * top of the route policy, oauth2-proxy style: each parameter present must be satisfied (AND across
 * parameters); within a parameter any listed value suffices; repeated parameters add values; an
 * empty parameter is no constraint.
 * - allowed_groups: one of the identity's groups (exact);
 * - allowed_emails: the email, local part exact and domain case-insensitive;
 * - allowed_email_domains: the email's domain exactly, or a subdomain for '*.example.com'.
 * An email constraint never admits an email that is absent or malformed (no or several '@'); an
 * unverified email is absent (identityFromClaims drops it unless insecureAllowUnverifiedEmail).
 */
export function authorizeQuery(query: URLSearchParams, id: Identity): Decision {
  const groups = listParam(query, 'allowed_groups');
  if (groups.length > 0 && !(id.groups ?? []).some((g) => groups.includes(g))) return deny('not in allowed_groups');

  const emails = listParam(query, 'allowed_emails');
  const domains = listParam(query, 'allowed_email_domains');
  if (emails.length === 0 && domains.length === 0) return ALLOW;
  const mail = parseEmail(id.email);
  if (!mail) return deny('no valid email for the email constraints');
  if (emails.length > 0) {
    const ok = emails.some((e) => {
      const want = parseEmail(e);
      return want !== null && want.local === mail.local && want.domain === mail.domain;
    });
    if (!ok) return deny('not in allowed_emails');
  }
  if (domains.length > 0 && !domains.some((d) => domainAllowed(mail.domain, d))) return deny('not in allowed_email_domains');
  return ALLOW;
}
