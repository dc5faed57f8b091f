#!/usr/bin/env node
/**
 * The menshen CLI, and the only place that listens or exits:
 *   menshen serve [--config FILE] [--pretty] [--demo-upstream]
 *   menshen check-config [--config FILE]
 *   menshen hash-password            (password on stdin, hash on stdout)
 *   menshen keys generate [--alg RS256|ES256|EdDSA]
 */
import { parseArgs } from 'node:util';
import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { loadConfigFile, resolveConfigPath } from './config/load.js';
import { ConfigError, parseListen } from './config/validate.js';
import type { Config } from './config/schema.js';
import { hashPassword } from './crypto/password.js';
import { generateJwkSet, type SigningAlg } from './crypto/keystore.js';
import { buildApp } from './app.js';
import { loggerOptions } from './ops/logger.js';
import { startMetricsServer } from './ops/metrics-server.js';
import { gracefulShutdown } from './ops/shutdown.js';
import { ConfigReloader } from './ops/reload.js';
import { RedisConfigError, checkRedisConfig } from './store/redis.js';
import { startDemoUpstream } from './demo/upstream.js';

const USAGE = `usage:
  menshen serve [--config FILE] [--pretty] [--demo-upstream]
  menshen check-config [--config FILE]
  menshen hash-password        reads the password on stdin, prints the hash
  menshen keys generate [--alg RS256|ES256|EdDSA]
--config defaults to $MENSHEN_CONFIG, then config/menshen.yaml
serve: SIGTERM/SIGINT drain and exit, SIGHUP reloads the config file`;

export const DEMO_UPSTREAM_PORT = 8081;

function exitWithProblems(file: string, message: string): never {
  process.stderr.write(`menshen: ${file}: ${message}\n`);
  process.exit(2);
}

function loadOrExit(file: string): Config {
  try {
    const config = loadConfigFile(file);
    if (config.store.type === 'redis') checkRedisConfig(config.store.redis);
    return config;
  } catch (err) {
    if (err instanceof ConfigError) exitWithProblems(file, err.message);
    if (err instanceof RedisConfigError) exitWithProblems(file, `invalid configuration:\n  ${err.message}`);
    throw err;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function listenOrExit(app: FastifyInstance, what: string, listen: string): Promise<void> {
  try {
    await app.listen(parseListen(listen)!);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(`menshen: cannot listen on ${listen} (${what}): ${code}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/**
 * The process lifecycle: build, listen (and the separate metrics listener), reload on SIGHUP and
 * file change, drain on SIGTERM/SIGINT and exit 0 (1 when the drain had to cut requests).
 */
async function serve(file: string, flags: { demoUpstream: boolean; pretty: boolean }): Promise<void> {
  const config = loadOrExit(file);
  let demo: Server | undefined;
  if (flags.demoUpstream) demo = await startDemoUpstream(DEMO_UPSTREAM_PORT);
  const app = await buildApp(config, { logger: loggerOptions(config.log.level, flags.pretty || config.log.pretty) });
  await listenOrExit(app, 'server.listen', config.server.listen);

  let metricsApp: FastifyInstance | undefined;
  if (config.server.metricsListen) {
    try {
      metricsApp = await startMetricsServer(app, parseListen(config.server.metricsListen)!);
    } catch (err) {
      process.stderr.write(`menshen: cannot listen on ${config.server.metricsListen} (server.metricsListen): ${(err as NodeJS.ErrnoException).code ?? err}\n`);
      await app.close();
      process.exit(1);
    }
    app.log.info({ metricsListen: config.server.metricsListen }, 'metrics listening');
  }

  const reloader = new ConfigReloader(app, { file, initial: config });
  const stopWatching = config.server.watchConfig ? reloader.watch() : () => {};
  process.on('SIGHUP', () => {
    reloader.reload('SIGHUP').catch((err: unknown) => app.log.error({ err }, 'config reload failed'));
  });

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second Ctrl-C means "now".
      if (signal === 'SIGINT') process.exit(130);
      return;
    }
    stopping = true;
    stopWatching();
    app.log.info({ signal, timeoutSeconds: config.server.shutdownTimeout }, 'shutting down: draining in-flight requests');
    const outcome = await gracefulShutdown(app, {
      timeoutMs: config.server.shutdownTimeout * 1000,
      others: [
        async () => metricsApp?.close(),
        () => new Promise<void>((resolve) => (demo ? demo.close(() => resolve()) : resolve())),
      ],
    });
    app.log.info({ outcome }, 'stopped');
    process.exit(outcome === 'drained' ? 0 : 1);
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
      pretty: { type: 'boolean', default: false },
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
      return serve(file, { demoUpstream: values['demo-upstream']!, pretty: values.pretty! });
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
  // A configuration mistake found at start (a signing key unfit for its algorithm) is a sentence
  // for the operator, not a stack trace.
  const e = err as Error;
  process.stderr.write(`menshen: ${e?.name === 'UnsuitableKeyError' ? `${e.message} (provider.keys)` : (e?.stack ?? String(err))}\n`);
  process.exit(1);
});
