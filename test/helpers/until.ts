/**
 * Polls `check` every 5 ms until it holds; throws naming `what` after `ms`. Fine-grained on
 * purpose: tests of the tracked reads time how soon a change is seen. A check that throws fails
 * the wait at once (unlike redis-topologies' waitFor, which retries through errors).
 */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
