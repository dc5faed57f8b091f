/**
 * Benchmark child: scenario (b), a bare @fastify/http-proxy in front of the upstream with no
 * authentication: fastify + the proxy's undici hop, the cost menshen's hot path is compared to.
 */
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';
import { freePort } from '../../test/helpers/redis-server.js';
import { childOptions, serveChild } from '../lib/child-main.js';

void serveChild(async () => {
  const { upstream } = childOptions<{ upstream: string }>();
  const port = await freePort();
  const app = Fastify({ logger: false });
  await app.register(httpProxy, { upstream, prefix: '/' });
  await app.listen({ host: '127.0.0.1', port });
  return { ready: { url: `http://127.0.0.1:${port}` }, close: () => app.close() };
});
