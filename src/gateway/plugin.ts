/** The reverse proxy: routes, sessions, login. Filled in by the gateway work. */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';

export const gatewayPlugin = fp(async function gateway(_app: FastifyInstance) {}, { name: 'menshen-gateway' });
