#!/usr/bin/env node
/**
 * The menshen CLI, and the only place that listens or exits:
 *   menshen serve [--config FILE] [--demo-upstream]
 *   menshen check-config [--config FILE]
 *   menshen hash-password            (password on stdin, hash on stdout)
 *   menshen keys generate [--alg RS256|ES256|EdDSA]
 */
import { parseArgs } from 'node:util';
import type { Server } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { loadConfigFile, resolveConfigPath } from './config/load.js';
import { ConfigError, parseListen } from './config/validate.js';
import type { Config } from './config/schema.js';
import { hashPassword } from './crypto/password.js';
import { generateJwkSet, type SigningAlg } from './crypto/keystore.js';
import { buildApp } from './app.js';
import { metricsReply } from './ops/health.js';
import { startDemoUpstream } from './demo/upstream.js';

const USAGE = `usage:
  menshen serve [--config FILE] [--demo-upstream]
  menshen check-config [--config FILE]
  menshen hash-password        reads the password on stdin, prints the hash
  menshen keys generate [--alg RS256|ES256|EdDSA]
--config defaults to $MENSHEN_CONFIG, then config/menshen.yaml`;

export const DEMO_UPSTREAM_PORT = 8081;

function loadOrExit(file: string): Config {
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`menshen: ${file}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function serve(file: string, demoUpstream: boolean): Promise<void> {
  const config = loadOrExit(file);
  let demo: Server | undefined;
  if (demoUpstream) demo = await startDemoUpstream(DEMO_UPSTREAM_PORT);
  const app = await buildApp(config);
  const listen = parseListen(config.server.listen)!;
  await app.listen({ host: listen.host, port: listen.port });

  let metricsApp: FastifyInstance | undefined;
  if (config.server.metricsListen) {
    const m = parseListen(config.server.metricsListen)!;
    metricsApp = Fastify({ logger: false });
    metricsApp.get('/metrics', (_req, reply) => metricsReply(app, reply));
    await metricsApp.listen({ host: m.host, port: m.port });
    app.log.info({ metricsListen: config.server.metricsListen }, 'metrics listening');
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: draining in-flight requests');
    const force = setTimeout(() => {
      app.log.error('drain timed out; exiting');
      process.exit(1);
    }, config.server.shutdownTimeout * 1000);
    force.unref();
    await Promise.allSettled([app.close(), metricsApp?.close(), new Promise<void>((r) => (demo ? demo.close(() => r()) : r()))]);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

export async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'demo-upstream': { type: 'boolean', default: false },
      alg: { type: 'string', default: 'RS256' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, sub] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(command || values.help ? 0 : 1);
  }
  const file = resolveConfigPath(values.config);
  switch (command) {
    case 'serve':
      return serve(file, values['demo-upstream']!);
    case 'check-config': {
      const c = loadOrExit(file);
      process.stdout.write(`${file}: ok (store ${c.store.type}, provider ${c.provider ? 'on' : 'off'}, ${c.gateway?.routes.length ?? 0} routes)\n`);
      return;
    }
    case 'hash-password': {
      const pw = await readStdin();
      if (!pw) {
        process.stderr.write('menshen: no password on stdin\n');
        process.exit(1);
      }
      process.stdout.write(`${await hashPassword(pw)}\n`);
      return;
    }
    case 'keys': {
      const alg = values.alg as SigningAlg;
      if (sub !== 'generate' || !['RS256', 'ES256', 'EdDSA'].includes(alg)) {
        process.stderr.write(`${USAGE}\n`);
        process.exit(1);
      }
      process.stdout.write(`${JSON.stringify(await generateJwkSet(alg))}\n`);
      return;
    }
    default:
      process.stderr.write(`menshen: unknown command '${command}'\n${USAGE}\n`);
      process.exit(1);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`menshen: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
