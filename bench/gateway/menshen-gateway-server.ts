/**
 * Benchmark child: scenario (c), menshen (provider + gateway in one process, as `menshen serve`
 * builds it) with Redis sessions, in front of the same upstream. Started with --expose-gc so that
 * the `memory` op can report the heap after a collection beside the RSS.
 */
import { buildApp } from '../../src/app.js';
import { configFromObject } from '../../src/config/load.js';
import { freePort } from '../../test/helpers/redis-server.js';
import { childOptions, serveChild } from '../lib/child-main.js';
import { gatewayConfigObject, type GatewayServerOptions } from './fixture.js';

void serveChild(async () => {
  const opts = childOptions<GatewayServerOptions>();
  const port = await freePort();
  const config = configFromObject(gatewayConfigObject(opts, port), {});
  const app = await buildApp(config);
  await app.listen({ host: '127.0.0.1', port });
  return { ready: { url: `http://127.0.0.1:${port}` }, close: () => app.close() };
});
