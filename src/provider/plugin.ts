/** Mounts the built-in OpenID Provider (engine + dialects). Filled in by the provider work. */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';

export const providerPlugin = fp(async function provider(_app: FastifyInstance) {}, { name: 'menshen-provider' });
