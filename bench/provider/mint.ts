/** The `mint` op both provider benchmark children answer, apart from how one handle is made. */
import type { MintArgs } from './fixture.js';

/**
 * `count` one-time handles of `grant`, made by `mintCode` or `mintRefreshToken` 256 at a time:
 * batches keep a Redis store's pipeline full without unbounded concurrency.
 */
export async function mintInBatches(
  { grant, count }: MintArgs,
  mintCode: () => Promise<string>,
  mintRefreshToken: () => Promise<string>,
): Promise<string[]> {
  const one = grant === 'authorization_code' ? mintCode : mintRefreshToken;
  const out: string[] = [];
  for (let i = 0; i < count; i += 256) {
    const batch = await Promise.all(Array.from({ length: Math.min(256, count - i) }, one));
    out.push(...batch);
  }
  return out;
}
