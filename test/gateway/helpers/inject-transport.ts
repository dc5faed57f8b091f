/**
 * A Browser transport that answers through fastify's inject instead of the network: lets a test
 * drive an app that does not listen at all, under a public URL that does not resolve.
 */
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Transport } from './browser.js';

export function injectTransport(app: FastifyInstance): Transport {
  return async (url, init) => {
    const u = new URL(url);
    const res = await app.inject({
      method: (init.method ?? 'GET') as InjectOptions['method'],
      url: u.pathname + u.search,
      headers: { ...init.headers, host: u.host },
      ...(typeof init.body === 'string' ? { payload: init.body } : {}),
    });
    const headers = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [String(v)]) headers.append(k, one);
    }
    const empty = res.statusCode === 204 || res.statusCode === 304 || res.rawPayload.length === 0;
    return new Response(empty ? null : res.rawPayload, { status: res.statusCode, headers });
  };
}
