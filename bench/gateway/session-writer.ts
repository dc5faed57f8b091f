/**
 * Benchmark child: writes gateway sessions in bulk with the gateway's own session module
 * (SessionStore: sealed AES-256-GCM values under per-session secrets, the same keys and indexes a
 * login writes), in a process of its own so that writing 100k sessions leaves no trace in the
 * gateway process whose memory is measured.
 *
 * `clone` reads the session of a real login (through its cookie, as the gateway does) and writes
 * `count` new sessions holding the same tokens and claims, each under a new id and secret, and
 * returns their cookies. Every copy is a full-size, validly sealed session; each has a subject of
 * its own (the login's `sub` with its last characters replaced by a counter, so the same length),
 * as 100,000 sessions in a real store belong to many users: a login reads and prunes its user's
 * session index (SessionStore.create), which for 100,000 sessions of ONE user would make every
 * write read the whole index.
 */
import { systemClock } from '../../src/clock.js';
import { RedisStore } from '../../src/store/redis.js';
import { GatewayCookies } from '../../src/gateway/session/cookies.js';
import { toStored } from '../../src/gateway/session/stored-form.js';
import { SessionStore, sessionKey } from '../../src/gateway/session/store.js';
import { childOptions, serveChild } from '../lib/child-main.js';
import { COOKIE_NAME, IDLE_TTL, SESSION_TTL } from './fixture.js';

export interface SessionWriterOptions {
  redisUrl: string;
  keyPrefix: string;
  cookieSecret: string;
  publicUrl: string;
}

export interface SessionAnatomy {
  /** length of the stored (sealed, encoded) value */
  sealedBytes: number;
  /** length of the JSON that was sealed */
  jsonBytes: number;
  /** JSON length of each member (at, rt, idt, claims, ...) */
  members: Record<string, number>;
}

export class SessionCloneError extends Error {}

void serveChild(async () => {
  const o = childOptions<SessionWriterOptions>();
  const kv = await RedisStore.connect({ url: o.redisUrl, keyPrefix: o.keyPrefix, tls: false });
  const sessions = new SessionStore(kv, systemClock, { ttl: SESSION_TTL, idleTtl: IDLE_TTL });
  const cookies = new GatewayCookies({ cookieName: COOKIE_NAME, secrets: o.cookieSecret, publicUrl: o.publicUrl });

  const load = async (cookie: string) => {
    const { ticket } = cookies.read(cookie);
    if (!ticket) throw new SessionCloneError('the cookie is not a valid session ticket');
    const session = await sessions.load(ticket);
    if (!session) throw new SessionCloneError('no live session behind the cookie');
    return session;
  };

  return {
    ready: { url: o.redisUrl },
    ops: {
      /** The Redis key (with prefix) of a cookie's session. */
      async keyOf({ cookie }: { cookie: string }): Promise<string> {
        return o.keyPrefix + sessionKey((await load(cookie)).id);
      },
      /** Where a session's bytes go: the sealed value and the JSON members inside it. */
      async anatomy({ cookie }: { cookie: string }): Promise<SessionAnatomy> {
        const session = await load(cookie);
        const sealed = (await kv.get(sessionKey(session.id)))!;
        // What is sealed: the stored form (tokens' header and payload as JSON), before deflate.
        const stored = toStored(session.data) as Record<string, unknown>;
        const members: Record<string, number> = {};
        for (const [k, v] of Object.entries(stored)) members[k] = Buffer.byteLength(JSON.stringify(v));
        return { sealedBytes: Buffer.byteLength(sealed), jsonBytes: Buffer.byteLength(JSON.stringify(stored)), members };
      },
      async clone({ cookie, count }: { cookie: string; count: number }): Promise<string[]> {
        const { data } = await load(cookie);
        const { v: _v, exp: _exp, w: _w, ...fields } = data;
        const sub = String(fields.claims.sub);
        const subOf = (n: number) => {
          const suffix = n.toString(36).padStart(6, '0');
          return sub.length > suffix.length ? sub.slice(0, -suffix.length) + suffix : sub + suffix;
        };
        const out: string[] = [];
        for (let i = 0; i < count; i += 500) {
          const batch = await Promise.all(
            Array.from({ length: Math.min(500, count - i) }, async (_, j) => {
              const copy = structuredClone(fields);
              copy.claims.sub = subOf(i + j);
              const s = await sessions.create(copy);
              const setCookie = cookies.sessionCookie(s, SESSION_TTL);
              return setCookie.slice(0, setCookie.indexOf(';'));
            }),
          );
          out.push(...batch);
        }
        return out;
      },
    },
    close: () => kv.close(),
  };
});
