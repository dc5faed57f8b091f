/**
 * Boots a real menshen app on 127.0.0.1 for a test: picks a free port first so the config can name
 * its own public URL (issuer, redirect URIs), builds the app from YAML, listens, and closes it in
 * teardown. `{{BASE}}` in the YAML becomes http://127.0.0.1:<port>.
 */
import type { FastifyInstance } from 'fastify';
import { configFromYaml } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { buildApp, type BuildOptions } from '../../src/app.js';
import type { KvStore } from '../../src/store/store.js';
import { freePort } from './redis-server.js';
import { testRedisStore } from './store.js';

export interface RunningApp {
  app: FastifyInstance;
  base: string;
  port: number;
  config: Config;
  store: KvStore;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export async function startApp(
  t: Teardownable,
  yaml: string,
  opts: BuildOptions & { env?: NodeJS.ProcessEnv; port?: number } = {},
): Promise<RunningApp> {
  // freePort() can race another test grabbing the same port between probe and listen: on
  // EADDRINUSE everything built for that port is closed and the app is rebuilt on a new one.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const base = `http://127.0.0.1:${port}`;
    const config = configFromYaml(yaml.replaceAll('{{BASE}}', base), { ...opts.env });
    const store = opts.store ?? (config.store.type === 'redis' ? await testRedisStore() : undefined);
    const app = await buildApp(config, { logger: false, ...opts, ...(store ? { store } : {}) });
    const closeAll = async () => {
      await app.close();
      if (store && !opts.store) await store.close();
    };
    try {
      await app.listen({ host: '127.0.0.1', port });
    } catch (err) {
      await closeAll();
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && opts.port === undefined && attempt < 5) continue;
      throw err;
    }
    t.teardown(closeAll);
    return { app, base, port, config, store: app.menshen.store };
  }
}

/** Hashing a password costs ~50 ms of scrypt; tests share this precomputed one. */
export const TEST_PASSWORD = 'correct horse battery staple';
export const TEST_PASSWORD_HASH =
  '$scrypt$N=16384,r=8,p=1$UOI1PJMqaDwQ8MgGLPoDFQ$oPyPu5FZEzQw4Mjw7xoqaqMpRXPSAYEIqIlq8ikhX3A';
