/** Closing an ioredis connection for good, whatever state it is in. */
import type { Redis, Cluster } from 'ioredis';

/**
 * QUIT when connected, then disconnect: that also ends what quit() leaves behind (reconnect
 * timers and, with Sentinel, the failover detector's connections to the sentinels).
 */
export async function closeConnection(conn: Redis | Cluster): Promise<void> {
  try {
    await conn.quit();
  } catch {
    // not connected: nothing to say goodbye to
  } finally {
    conn.disconnect();
  }
}
