/**
 * CSRF protection of the login page and its SMS step: a signed double-submit token. The browser
 * holds one random secret in the `menshen_op_csrf` cookie (SameSite=Lax, HttpOnly, set when absent
 * and kept across logins); each form carries HMAC-SHA256(secret, interaction id + its csrf nonce).
 * A cross-site page can neither read the cookie nor compute the token; a token made for one
 * interaction does not fit another. One cookie for any number of tabs: a second login tab never
 * overwrites the first one's token (gateway-lessons §3 items 3 and 13: one cookie per state piles
 * up, one shared token breaks tabs), and a finished login leaves the other tabs working.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomHandle } from '../../../crypto/secrets.js';
import type { Interaction } from '../../engine/interactions.js';
import { INTERACTION_TTL } from '../../engine/interactions.js';
import { CSRF_COOKIE, readCookie, setCookie, type CookieScope } from './cookies.js';

/** 256-bit base64url: anything else in the cookie is ignored and replaced. */
const SECRET = /^[A-Za-z0-9_-]{43}$/;

function browserSecret(req: FastifyRequest): string | undefined {
  const v = readCookie(req.headers.cookie, CSRF_COOKIE);
  return v !== undefined && SECRET.test(v) ? v : undefined;
}

function sign(secret: string, ix: Interaction): string {
  return createHmac('sha256', secret).update(`${ix.id}:${ix.csrf}`).digest('base64url');
}

/**
 * The token a form of `ix` must carry; sets the browser's secret cookie (a new secret only when
 * the browser has none) and renews its lifetime so it outlives the interaction.
 */
export function issueFormToken(req: FastifyRequest, reply: FastifyReply, ix: Interaction, scope: CookieScope): string {
  const secret = browserSecret(req) ?? randomHandle();
  reply.header('set-cookie', setCookie(CSRF_COOKIE, secret, scope, INTERACTION_TTL));
  return sign(secret, ix);
}

/** True when the posted token is the one this browser's secret gives for `ix`. */
export function formTokenValid(req: FastifyRequest, posted: string | undefined, ix: Interaction): boolean {
  const secret = browserSecret(req);
  if (!secret || posted === undefined) return false;
  const want = Buffer.from(sign(secret, ix));
  const got = Buffer.from(posted);
  return want.length === got.length && timingSafeEqual(want, got);
}
