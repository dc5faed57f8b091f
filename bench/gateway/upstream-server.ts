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
  // Counted so the bench can prove the gateway really forwarded identity (not just a 200).
  let identified = 0;
  let anonymous = 0;
  const server = createServer((req, res) => {
    if (req.headers['x-menshen-assertion'] && req.headers['x-auth-request-user']) identified++;
    else anonymous++;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(UPSTREAM_BODY) });
    res.end(UPSTREAM_BODY);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    ready: { url: `http://127.0.0.1:${port}` },
    ops: {
      /** Requests that arrived with and without menshen's identity headers since the last call. */
      counts: () => {
        const n = { identified, anonymous };
        identified = 0;
        anonymous = 0;
        return n;
      },
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
});
