/**
 * The separate /metrics listener (server.metricsListen): keeps Prometheus scraping off the public
 * port, so the ingress never exposes it. Serves the app's registry and nothing else.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { metricsReply } from './health.js';

export async function startMetricsServer(app: FastifyInstance, listen: { host: string; port: number }): Promise<FastifyInstance> {
  const server = Fastify({ logger: false });
  server.get('/metrics', (_req, reply) => metricsReply(app, reply));
  server.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not_found', error_description: 'only /metrics is served here' }));
  await server.listen(listen);
  return server;
}
