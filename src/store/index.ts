import type { StoreConfig } from '../config/schema.js';
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import type { KvStore } from './store.js';

export type { KvStore, Lock } from './store.js';
export { StoreUnavailableError } from './store.js';

export async function createStore(cfg: StoreConfig): Promise<KvStore> {
  return cfg.type === 'redis' ? RedisStore.connect(cfg.redis) : new MemoryStore();
}
