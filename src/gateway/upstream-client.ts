/**
 * The HTTP hop to the upstreams: one undici Agent (a keep-alive pool per origin) and a dispatch
 * handler that writes the upstream's answer straight into the client's ServerResponse.
 *
 * Why not @fastify/reply-from (what @fastify/http-proxy uses, and what this module replaced):
 * reply-from wraps every answer in a Readable (undici's `request()`), which fastify then pipes into
 * the response: a stream object, its end-of-stream watchers, pipe plumbing and several ticks per
 * request. Measured on this machine (bench/RESULTS.md, session 4): the same fastify app forwarding
 * through `dispatch` into the raw response answered about twice the requests per second of a bare
 * @fastify/http-proxy, and that overhead was most of what separated menshen's authenticated hop
 * from the bare proxy. Everything reply-from did for us is here, explicitly: upstream Host, bounded
 * connect/headers/body waits, certificate checks, hop-by-hop response headers, backpressure, an
 * upstream cut off when its client goes away, no retries (an upstream's 503 is its answer).
 *
 * Failures before the first byte of the answer go to the caller (`onFailure`: the gateway's own
 * 502/504 page through fastify); after it, the client connection is cut, which is all HTTP/1.1
 * can say about a truncated body.
 */
import { validateHeaderName, validateHeaderValue, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import { hopByHopNames } from './headers.js';

export interface UpstreamClientOptions {
  /** Connections per upstream origin. */
  connections: number;
  keepAliveTimeoutMs: number;
  connectTimeoutMs: number;
  /** Longest wait for the upstream's response headers (then 504). */
  headersTimeoutMs: number;
  /** Longest silence between two chunks of the upstream's body (then the client connection is cut). */
  bodyTimeoutMs: number;
}

export interface UpstreamRequest {
  /** `http(s)://host[:port]` of the upstream. */
  origin: string;
  /** Path and query as the upstream receives them. */
  path: string;
  method: string;
  /** The request headers for the upstream (already stripped and injected: upstream-headers.ts). */
  headers: IncomingHttpHeaders;
  /** The client's request body, streamed; null when it has none. */
  body: Readable | null;
}

/** What the caller gets back from one forwarded request. */
export interface ForwardCallbacks {
  /** The gateway's own response headers (request id, a renewed session cookie) to send with the upstream's. */
  ownHeaders(): Record<string, string | number | string[] | undefined>;
  /**
   * Called once, just before the upstream's status line is written: the caller hands the response
   * over (reply.hijack()); from here it is written raw.
   */
  takeOver(): void;
  /** The upstream failed before any of its answer was written: the caller answers (502/504). */
  onFailure(err: Error): void;
  /** The upstream failed after its answer started: logged, the client connection was cut. */
  onTruncated(err: Error): void;
}

export class UpstreamClient {
  private readonly agent: Agent;

  constructor(o: UpstreamClientOptions) {
    this.agent = new Agent({
      connections: o.connections,
      pipelining: 1,
      keepAliveTimeout: o.keepAliveTimeoutMs,
      headersTimeout: o.headersTimeoutMs,
      bodyTimeout: o.bodyTimeoutMs,
      // Certificates are verified (Node's default; reply-from had to be told): a private CA goes
      // in NODE_EXTRA_CA_CERTS.
      connect: { timeout: o.connectTimeoutMs, rejectUnauthorized: true },
    });
  }

  /** Sends the request upstream and relays the answer into `res`. Never throws. */
  forward(upstream: UpstreamRequest, clientReq: IncomingMessage, res: ServerResponse, callbacks: ForwardCallbacks): void {
    const relay = new ResponseRelay(clientReq, res, callbacks, upstream.body !== null);
    const opts: Dispatcher.DispatchOptions = {
      origin: upstream.origin,
      path: upstream.path,
      method: upstream.method as Dispatcher.HttpMethod,
      headers: upstream.headers as Record<string, string | string[]>,
      body: upstream.body,
    };
    this.agent.dispatch(opts, relay);
  }

  /** Ends every pooled connection (app close). */
  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

/** One request's undici handler: relays the upstream's answer into the client's response. */
class ResponseRelay implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private started = false;
  private done = false;
  private readonly onClientClose = () => {
    // The client went away before the answer was complete: stop the upstream work too.
    if (this.done || this.res.writableFinished) return;
    this.finish();
    this.controller?.abort(new Error('client closed the connection'));
  };
  private readonly onDrain = () => this.controller?.resume();

  constructor(
    private readonly clientReq: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly callbacks: ForwardCallbacks,
    private readonly hasBody: boolean,
  ) {
    res.once('close', this.onClientClose);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.res.destroyed) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, parsed: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx: informational, the final answer follows
    // undici keeps the raw header list beside the parsed object: the upstream's spelling and order.
    const raw = Array.isArray(controller.rawHeaders) ? controller.rawHeaders : flatten(parsed);
    const headers = responseHeaders(raw, this.callbacks.ownHeaders());
    // An HTTP/1.1 connection cannot carry another request until this one's body has been read:
    // when the upstream answers before the client finished sending, close it after the answer.
    if (this.hasBody && !this.clientReq.complete) headers.push('connection', 'close');
    // Checked before the response is taken over from fastify, so that a header Node would refuse
    // to write (bytes the upstream's parser let through) still gets the gateway's own 502.
    const invalid = invalidHeader(headers);
    if (invalid) {
      this.finish();
      controller.abort(invalid);
      this.callbacks.onFailure(invalid);
      return;
    }
    this.callbacks.takeOver();
    try {
      // The standard reason phrase, never the upstream's: Node refuses phrases undici accepts
      // (non-ASCII), and the phrase carries nothing a client may act on (RFC 9112 §4).
      this.res.writeHead(statusCode, headers);
    } catch (err) {
      // Not expected (the headers were checked); the response is ours now, so end it here.
      this.finish();
      controller.abort(err as Error);
      this.res.destroy();
      this.callbacks.onTruncated(err as Error);
      return;
    }
    this.started = true;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done || this.res.write(chunk)) return;
    // Backpressure: undici stops reading the upstream socket until the client drains.
    controller.pause();
    this.res.once('drain', this.onDrain);
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.finish();
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.done) return;
    this.finish();
    if (!this.started) this.callbacks.onFailure(err);
    else {
      this.res.destroy();
      this.callbacks.onTruncated(err);
    }
  }

  private finish(): void {
    this.done = true;
    this.res.off('close', this.onClientClose);
  }
}

function flatten(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else if (value !== undefined) out.push(name, value);
  }
  return out;
}

/**
 * The upstream's response headers for the client as a flat [name, value, ...] list (original
 * spelling, repeated names kept), without hop-by-hop ones (its Connection and Keep-Alive describe
 * the pooled connection to it; passed on they overrode the client's own `Connection: close`), then
 * the gateway's own headers: Set-Cookie is added to the upstream's, any other name the upstream
 * did not send itself.
 */
export function responseHeaders(raw: readonly (Buffer | string)[], own: Record<string, string | number | string[] | undefined>): string[] {
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && text(raw[i]!).toLowerCase() === 'connection') {
      const v = text(raw[i + 1]!);
      connection = connection === undefined ? v : `${connection}, ${v}`;
    }
  }
  const hop = hopByHopNames(connection);
  const out: string[] = [];
  const sent = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = text(raw[i]!);
    const lower = name.toLowerCase();
    if (hop.has(lower)) continue;
    sent.add(lower);
    out.push(name, text(raw[i + 1]!));
  }
  for (const name of Object.keys(own)) {
    const value = own[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (lower !== 'set-cookie' && sent.has(lower)) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, String(value));
  }
  return out;
}

/** The first header Node would refuse to write (ERR_INVALID_HTTP_TOKEN, ERR_INVALID_CHAR), or null. */
function invalidHeader(flat: readonly string[]): Error | null {
  for (let i = 0; i < flat.length; i += 2) {
    try {
      validateHeaderName(flat[i]!);
      validateHeaderValue(flat[i]!, flat[i + 1]!);
    } catch (err) {
      return err as Error;
    }
  }
  return null;
}

/** Header bytes as Node writes them back (latin1: one char per byte, nothing re-encoded). */
const text = (b: Buffer | string): string => (typeof b === 'string' ? b : b.toString('latin1'));

/** The status of the gateway's answer when the upstream failed before answering: 504 for waits that ran out. */
export function failureStatus(err: unknown): 502 | 504 {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 504 : 502;
}
