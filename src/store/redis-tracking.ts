/**
 * Redis client-side caching (server-assisted, https://redis.io/docs/latest/develop/reference/client-side-caching/)
 * for reads a caller wants to keep: Redis remembers the keys read on one connection (`reader`,
 * CLIENT TRACKING ON) and pushes the name of each one that changes afterwards (written, deleted,
 * expired, evicted, flushed: for any client, this process included) to another (`listener`,
 * subscribed to `__redis__:invalidate`: RESP2's REDIRECT mode, which ioredis speaks).
 *
 * What a caller may rely on (see TrackedReads in store.ts): a read made while `live`, that saw no
 * report for its key (`changedSince`) and no change of `epoch` before it answered, stays the
 * stored value until a report arrives for that key. Reports travel on another socket than the
 * read's reply, so one can overtake the other: `mark()` before the read and `changedSince` after
 * it is what catches a change that landed while the read was in flight.
 *
 * Anything that could lose a report ends `live` and starts a new epoch: either connection closing
 * or reconnecting (a restarted or failed-over Redis forgets what it tracked), a failed read, a
 * flush (a report without keys), and a missed heartbeat. The heartbeat (every HEARTBEAT_MS) is what
 * catches a connection that died without closing (a NAT or load balancer dropping an idle flow, a
 * partition): the listener never sends anything else, and under RESP2 Redis drops the reports of
 * a redirect target that is gone without telling the reader. Each beat PINGs the listener and asks,
 * on the reader, that the listener (by its random connection name) is a client of the reader's
 * server: so both sockets answer, and reports go where we listen (after a Sentinel failover the
 * two could otherwise be on different servers). Callers then read from Redis again, so an outage
 * fails closed exactly as it did before this cache: within a heartbeat when nothing closes.
 * Only standalone and Sentinel: a Cluster would need a pair of connections per master.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { StoreUnavailableError, type TrackedReads } from './store.js';
import { closeConnection } from './redis-close.js';

const INVALIDATE_CHANNEL = '__redis__:invalidate';
/**
 * Keys whose latest report is remembered for changedSince; beyond it the oldest is dropped and
 * every mark before it counts as changed (a read in flight then is simply not kept).
 */
const RECENT_REPORTS = 10_000;
/** How often both connections must prove they are alive and paired while live. */
export const HEARTBEAT_MS = 1_000;
/** A heartbeat not answered by then ends `live` and reconnects the connection that did not answer. */
const HEARTBEAT_TIMEOUT_MS = 1_000;
/** Idle beats (not live, both connections up) before re-arming from scratch; doubles up to the max. */
const FIRST_REARM_BEATS = 3;
const MAX_REARM_BEATS = 60;

export class RedisTrackedReads implements TrackedReads {
  private isLive = false;
  private currentEpoch = 0;
  /** Reports received so far: the position mark() hands out. */
  private seq = 0;
  /** Key (without prefix) -> seq of its latest report; insertion order = report order. */
  private readonly recent = new Map<string, number>();
  /** Every report at or before this seq has been dropped from `recent`. */
  private forgottenUpTo = 0;
  /** The listener's client id on its server, once subscribed; null before and after a close. */
  private listenerId: number | null = null;
  /** Bumped when the listener closes: an arming begun on an older connection sets nothing. */
  private listenerGeneration = 0;
  /** Bumped by every arming and every loss: an arming overtaken by either does not go live. */
  private arming = 0;
  /** Heartbeats in a row that found both connections ready but tracking not live. */
  private idleBeats = 0;
  private rearmAfterBeats = FIRST_REARM_BEATS;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly listeners: Array<(keys: string[] | null) => void> = [];
  private closed = false;
  private readonly reader: Redis;
  private readonly listener: Redis;
  /** CLIENT SETNAME of the listener: how the reader finds it in CLIENT LIST. */
  private readonly listenerName = `menshen-tracking-${randomBytes(8).toString('hex')}`;

  /**
   * @param base the store's client: reader and listener are its duplicates (same server, Sentinel
   *   group, TLS and credentials)
   * @param keyPrefix the store's key prefix, which Redis reports as part of every key
   */
  constructor(
    base: Redis,
    private readonly keyPrefix: string,
  ) {
    // No resending after a reconnect: a CLIENT ID or SUBSCRIBE of the old connection answered on
    // the new one would pair the reader with a client id that is not ours.
    const common = { lazyConnect: true, autoResendUnfulfilledCommands: false } as const;
    this.reader = base.duplicate(common);
    this.listener = base.duplicate({ ...common, autoResubscribe: false, enableAutoPipelining: false, connectionName: this.listenerName });
    for (const conn of [this.reader, this.listener]) {
      conn.on('error', () => {}); // surfaced by failing reads; ioredis reconnects
      conn.on('close', () => this.lose());
    }
    this.listener.on('close', () => {
      this.listenerId = null; // a reconnected listener is another client with another id
      this.listenerGeneration++;
    });
    this.listener.on('ready', () => void this.armListener());
    this.reader.on('ready', () => void this.armReader());
    this.listener.on('messageBuffer', (channel: Buffer, message: Buffer[] | Buffer | null) => {
      if (channel.toString() === INVALIDATE_CHANNEL) this.report(message);
    });
  }

  /** Connects both connections; tracking goes live once both are up (not awaited: Redis may be down at start). */
  start(): void {
    if (this.closed || this.heartbeat) return;
    void this.reader.connect().catch(() => {});
    void this.listener.connect().catch(() => {});
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get live(): boolean {
    return this.isLive;
  }

  get epoch(): number {
    return this.currentEpoch;
  }

  mark(): number {
    return this.seq;
  }

  changedSince(key: string, mark: number): boolean {
    return this.forgottenUpTo > mark || (this.recent.get(key) ?? 0) > mark;
  }

  async read(key: string): Promise<{ value: string | null; ttlMs: number }> {
    try {
      // One round trip: both replies come back in one pipeline (PTTL -2: absent, -1: no expiry).
      const [value, ttl] = await Promise.all([this.reader.get(key), this.reader.pttl(key)]);
      return { value, ttlMs: ttl };
    } catch (err) {
      // A timeout or a reset: whatever the reader tracked may be gone with it.
      this.lose();
      throw new StoreUnavailableError(err);
    }
  }

  onChange(listener: (keys: string[] | null) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    this.lose();
    await Promise.all([this.reader, this.listener].map(closeConnection));
  }

  /** Whatever this process confirmed may have missed a report from here on. */
  private lose(): void {
    this.isLive = false;
    this.currentEpoch++;
    this.arming++;
  }

  private async armListener(): Promise<void> {
    this.lose();
    this.listenerId = null;
    const generation = this.listenerGeneration;
    try {
      // CLIENT ID first: a subscribed RESP2 connection accepts nothing but (UN)SUBSCRIBE and PING.
      const id = Number(await this.listener.client('ID'));
      await this.listener.subscribe(INVALIDATE_CHANNEL);
      if (generation !== this.listenerGeneration || this.listener.status !== 'ready') return;
      this.listenerId = id;
      await this.enableOnReader();
    } catch {
      // Redis went away mid-arming: the next 'ready' (or heartbeat) arms again.
    }
  }

  private async armReader(): Promise<void> {
    this.lose();
    // Before the listener is up its own arming enables the reader.
    if (this.listenerId === null) return;
    try {
      await this.enableOnReader();
    } catch {
      // as above
    }
  }

  /** The listener is a client of the reader's server, under our name and id. */
  private async readerSeesListener(listenerId: number): Promise<boolean> {
    const line = String(await this.reader.client('LIST', 'ID', String(listenerId)));
    return line.includes(`id=${listenerId} `) && line.includes(` name=${this.listenerName} `);
  }

  /** Points the reader's tracking at the listener; live once it answered and nothing was lost meanwhile. */
  private async enableOnReader(): Promise<void> {
    const arming = ++this.arming;
    const listenerId = this.listenerId;
    if (listenerId === null || this.closed) return;
    if (!(await this.readerSeesListener(listenerId))) return; // different servers: the heartbeat re-arms
    // OFF first: ON does not move an enabled connection's redirect to a new listener.
    await this.reader.client('TRACKING', 'OFF');
    await this.reader.client('TRACKING', 'ON', 'REDIRECT', String(listenerId));
    if (arming !== this.arming || this.closed || this.reader.status !== 'ready' || this.listener.status !== 'ready') return;
    this.currentEpoch++;
    this.isLive = true;
  }

  /** While live: both connections answer and are still paired. Not live with both up: re-arm. */
  private async beat(): Promise<void> {
    if (this.closed) return;
    if (!this.isLive) {
      // Arming failed without a reconnect (the pair split across servers, a command refused):
      // both connections start over, after 3, 6, 12 ... (at most 60) idle beats, so that a Redis
      // that will never track (no CLIENT or channel rights, Redis < 6.2) is not hammered.
      const bothReady = this.reader.status === 'ready' && this.listener.status === 'ready';
      this.idleBeats = bothReady ? this.idleBeats + 1 : 0;
      if (this.idleBeats >= this.rearmAfterBeats) {
        this.idleBeats = 0;
        this.rearmAfterBeats = Math.min(this.rearmAfterBeats * 2, MAX_REARM_BEATS);
        this.dropListener();
        this.reader.disconnect(true);
      }
      return;
    }
    this.idleBeats = 0;
    this.rearmAfterBeats = FIRST_REARM_BEATS;
    const epoch = this.currentEpoch;
    const listenerId = this.listenerId;
    const within = <T>(p: Promise<T>): Promise<T | 'failed'> => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'failed'>((resolve) => {
        timer = setTimeout(() => resolve('failed'), HEARTBEAT_TIMEOUT_MS);
        timer.unref();
      });
      return Promise.race([p.catch((): 'failed' => 'failed'), deadline]).finally(() => clearTimeout(timer));
    };
    const [pong, paired] = await Promise.all([
      within(this.listener.ping()),
      listenerId === null ? Promise.resolve(false) : within(this.readerSeesListener(listenerId)),
    ]);
    if (this.closed || epoch !== this.currentEpoch) return;
    const listenerOk = pong !== 'failed' && paired !== false; // not seen by the reader: re-pair
    const readerOk = paired !== 'failed';
    if (listenerOk && readerOk) return;
    // Silent death or a split pair: stop trusting, and restart the side that failed.
    this.lose();
    if (!listenerOk) this.dropListener();
    if (!readerOk) this.reader.disconnect(true);
  }

  /**
   * Reconnects the listener and forgets its id at once: ioredis only half-closes the old socket
   * and reports it closed up to disconnectTimeout later, and a reader re-armed meanwhile must not
   * pair with that dead client (Redis still lists it until its FIN arrives).
   */
  private dropListener(): void {
    this.listenerId = null;
    this.listenerGeneration++;
    this.listener.disconnect(true);
  }

  private report(message: Buffer[] | Buffer | null): void {
    this.seq++;
    if (!Array.isArray(message)) {
      // No keys: the database was flushed (FLUSHALL/FLUSHDB), every tracked read is void.
      this.currentEpoch++;
      for (const l of this.listeners) l(null);
      return;
    }
    const keys: string[] = [];
    for (const raw of message) {
      const full = raw.toString();
      if (!full.startsWith(this.keyPrefix)) continue;
      const key = full.slice(this.keyPrefix.length);
      keys.push(key);
      this.recent.delete(key);
      this.recent.set(key, this.seq);
    }
    while (this.recent.size > RECENT_REPORTS) {
      const [oldest, at] = this.recent.entries().next().value as [string, number];
      this.recent.delete(oldest);
      this.forgottenUpTo = Math.max(this.forgottenUpTo, at);
    }
    if (keys.length) for (const l of this.listeners) l(keys);
  }
}
