/** docs/configuration.md is generated from src/config/schema.ts; this fails when it is stale. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { REFERENCE_FILE, renderConfigReference } from '../../scripts/config-reference.js';

t.test('docs/configuration.md matches the schema', async (t) => {
  const generated = renderConfigReference();
  const committed = readFileSync(REFERENCE_FILE, 'utf8');
  t.ok(
    committed === generated,
    'docs/configuration.md is up to date (if not: node --import tsx scripts/config-reference.ts --write)',
  );
});

t.test('the reference lists every key with type, default and description', async (t) => {
  const text = renderConfigReference();
  t.match(text, '| `server.shutdownTimeout` | integer ≥ 0 | `25` | seconds to drain in-flight requests on SIGTERM |');
  t.match(text, '| `store.type` | "memory" \\| "redis" | `"memory"` |');
  t.match(text, '| `gateway.routes[].upstream` | string | **required** |');
  t.match(text, '| `store.redis.tlsCaFile` | string |  |', 'optional keys have an empty default');
  for (const section of ['server', 'store', 'log', 'provider', 'gateway']) t.match(text, `\n## ${section}\n`);
  t.notMatch(text, /\| [^|]*<[a-z]/, 'no raw angle brackets that markdown would swallow');
});
