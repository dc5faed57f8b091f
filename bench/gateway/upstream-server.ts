/**
 * Benchmark child: the protected app, a minimal node:http server answering every request with a
 * small fixed body. All three gateway scenarios proxy to this one process, and scenario (a) hits it
 * directly; its own cost is the floor under every row.
 */
import { createServer } from 'node:http';
import { freePort } from '../../test/helpers/redis-server.js';
import { serveChild } from '../lib/child-main.js';

export const UPSTREAM_BODY = 'hello from upstream\n';

void serveChild(async () => {
  const port = await freePort();
  // Counted per scenario (the x-bench-scenario header each load sends), so the bench can prove the
  // gateway forwarded identity on every request, and a straggler of one scenario arriving during
  // the next is still attributed to its own.
  const counts = new Map<string, { identified: number; anonymous: number }>();
  const server = createServer((req, res) => {
    const scenario = String(req.headers['x-bench-scenario'] ?? 'none');
    let c = counts.get(scenario);
    if (!c) counts.set(scenario, (c = { identified: 0, anonymous: 0 }));
    if (req.headers['x-menshen-assertion'] && req.headers['x-auth-request-user']) c.identified++;
    else c.anonymous++;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(UPSTREAM_BODY) });
    res.end(UPSTREAM_BODY);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    ready: { url: `http://127.0.0.1:${port}` },
    ops: {
      /** Requests of a scenario that arrived with and without menshen's identity headers, so far. */
      counts: ({ scenario }: { scenario: string }) => counts.get(scenario) ?? { identified: 0, anonymous: 0 },
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
});
