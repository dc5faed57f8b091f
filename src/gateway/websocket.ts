/**
 * Websocket upgrades, on routes with `websocket: true` only. fastify does not see upgrade
 * requests, so the HTTP server's 'upgrade' event runs the same steps as the HTTP proxy:
 * normalize -> match -> session/bearer -> policy -> strip-then-inject headers, then the handshake
 * is replayed to the upstream and the two sockets are piped together (the frames are not parsed:
 * whatever the upstream's websocket dialect, it passes through).
 * Refusals are plain HTTP responses on the socket: 400, 401 (never a login redirect: a websocket
 * cannot follow one), 403, 404, 502, 503.
 *
 * Cross-site websocket hijacking: browsers send cookies on websocket handshakes and websockets are
 * not subject to CORS, so an Origin, when present, must be this gateway's (the public origin or
 * the origin the request was addressed to).
 */
import { request as httpRequest, STATUS_CODES, type IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Gateway } from './gateway.js';
import { resolveRoute } from './resolve.js';
import { admit, routeIdentityHeaders } from './access.js';
import { upstreamRequestHeaders } from './upstream-headers.js';
import { upstreamUrl } from './proxy.js';
import { GatewayError, InvalidBearerToken, LoginRequired } from './errors.js';
import { StoreUnavailableError } from '../store/store.js';

function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed || socket.writableEnded) return; // answered already (e.g. timeout, then the abort's error)
  const body = JSON.stringify({ error: STATUS_CODES[status]?.toLowerCase().replace(/ /g, '_') ?? 'error', error_description: message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n\r\n${body}`,
  );
}

function statusOf(err: unknown): { status: number; message: string } {
  if (err instanceof LoginRequired || err instanceof InvalidBearerToken) return { status: 401, message: err.message };
  if (err instanceof GatewayError) return { status: err.status, message: err.message };
  if (err instanceof StoreUnavailableError) return { status: 503, message: 'session store unavailable' };
  return { status: 500, message: 'internal error' };
}

/** Serializes a response head (status line + headers) as received from the upstream. */
function responseHead(res: IncomingMessage): string {
  let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
  for (let i = 0; i < res.rawHeaders.length; i += 2) head += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
  return `${head}\r\n`;
}

export class WebsocketProxy {
  private readonly sockets = new Set<Duplex>();

  constructor(
    private readonly gw: Gateway,
    private readonly log: { error(obj: object, msg: string): void },
  ) {}

  /** The listener for the HTTP server's 'upgrade' event. */
  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    this.upgrade(req, socket, head).catch((err: unknown) => {
      const { status, message } = statusOf(err);
      // Store failures are counted by the metered store (ops/metered-store.ts).
      if (status === 500) this.log.error({ err }, 'websocket upgrade failed');
      refuse(socket, status, message);
    });
  };

  /** Ends every proxied websocket (app close). */
  closeAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private track(s: Duplex): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const gw = this.gw;
    const peer = req.socket.remoteAddress;
    const hostHeader = gw.trust.requestHost(peer, req.headers);
    const proto = gw.trust.requestProto(peer, req.headers, 'encrypted' in req.socket && req.socket.encrypted === true);

    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return refuse(socket, 400, 'only websocket upgrades are supported');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== new URL(gw.publicUrl).origin && origin !== `${proto}://${hostHeader}`)
      return refuse(socket, 403, 'cross-origin websocket refused');

    const resolved = resolveRoute(gw.routes(), gw.reserved, hostHeader, req.url ?? '/');
    if (!resolved.route.config.websocket) return refuse(socket, 403, 'websockets are not enabled on this route');
    const who = await admit(gw.auth, resolved, req.headers);
    const identity = who ? await routeIdentityHeaders(gw.assertions, resolved.route, who) : {};
    const forwarded = { chain: gw.trust.chain(peer, req.headers['x-forwarded-for']), proto, host: hostHeader };
    const headers: IncomingHttpHeaders = upstreamRequestHeaders(req.headers, {
      route: resolved.route,
      templateNames: gw.templateHeaderNames(),
      gatewayCookieNames: gw.cookies.names,
      forwarded,
      identity,
    });

    const target = new URL(upstreamUrl(resolved.route, resolved.path));
    headers.host = target.host;
    headers.connection = 'Upgrade';
    headers.upgrade = 'websocket';
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstreamReq = send(target.href + (resolved.rawQuery ? `?${resolved.rawQuery}` : ''), { method: 'GET', headers });
    if (socket.destroyed) return void upstreamReq.destroy();
    socket.once('close', () => upstreamReq.destroy());
    // The handshake gets the HTTP proxy's bounds: a silent upstream must not hold the client's
    // socket (and ours) open forever. Connect + response head within the headers timeout: 504.
    const { headers: headersSeconds } = gw.config.upstreamTimeouts;
    const handshakeTimer = setTimeout(() => {
      upstreamReq.destroy();
      refuse(socket, 504, 'the upstream did not answer the websocket handshake in time');
    }, headersSeconds * 1000);
    handshakeTimer.unref();
    upstreamReq.once('close', () => clearTimeout(handshakeTimer));
    upstreamReq.once('upgrade', () => clearTimeout(handshakeTimer));
    upstreamReq.once('response', () => clearTimeout(handshakeTimer));

    upstreamReq.on('upgrade', (res: IncomingMessage, upstream: Duplex, upstreamHead: Buffer) => {
      this.track(socket);
      this.track(upstream);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      socket.write(responseHead(res));
      if (upstreamHead.length) socket.write(upstreamHead);
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    // The upstream declined the upgrade: pass its status on.
    upstreamReq.on('response', (res: IncomingMessage) => {
      res.resume();
      refuse(socket, res.statusCode ?? 502, 'the upstream refused the websocket upgrade');
    });
    upstreamReq.on('error', () => refuse(socket, 502, 'upstream unavailable'));
    upstreamReq.end();
  }
}
