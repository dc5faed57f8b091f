/**
 * A fetch() answered by this very app through fastify's inject, for the relying party when the
 * issuer is the built-in provider (DESIGN §4): discovery, token, JWKS and revocation calls cost no
 * network hop and never hairpin through the ingress, while every URL stays the public one (the
 * Host header keeps the public host, so a provider limited to provider.hosts still answers).
 * Only used after the app is ready: inject waits for readiness, so calling it while the app is
 * still booting would deadlock.
 */
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { FetchLike } from './rp.js';

async function bodyOf(body: unknown): Promise<string | Buffer | undefined> {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Blob) return Buffer.from(await body.arrayBuffer());
  throw new TypeError('in-process fetch: unsupported body type');
}

export function inProcessFetch(app: FastifyInstance): FetchLike {
  return async (url, init) => {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    new Headers(init.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => {
      headers[k] = v;
    });
    headers.host = target.host;
    const payload = await bodyOf(init.body);
    const res = await app.inject({
      method: (init.method ?? 'GET') as InjectOptions['method'],
      url: target.pathname + target.search,
      headers,
      ...(payload !== undefined ? { payload } : {}),
    });
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [String(v)]) out.append(k, one);
    }
    const nullBody = res.statusCode === 204 || res.statusCode === 304 || res.rawPayload.length === 0;
    return new Response(nullBody ? null : res.rawPayload, { status: res.statusCode, headers: out });
  };
}
