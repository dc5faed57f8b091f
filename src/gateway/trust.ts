/**
 * Which peers may speak for the client through X-Forwarded-* (server.trustProxy), with the same
 * meaning fastify gives the option: false (nobody), true (anybody: only behind a trusted load
 * balancer), or a list of IPs/CIDRs and proxy-addr's names loopback, linklocal, uniquelocal.
 * fastify applies it to request.ip/protocol/host; the gateway also needs it for the raw websocket
 * upgrade and to decide whether forward-auth may route by X-Forwarded-Host/-Uri (oauth2-proxy
 * GHSA-7x63-xv5r-3p2x: skip-auth rules checked against a client-supplied X-Forwarded-Uri).
 */
import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';

const NAMED: Record<string, Array<[string, number, 'ipv4' | 'ipv6']>> = {
  loopback: [['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']],
  linklocal: [['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']],
  uniquelocal: [['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['fc00::', 7, 'ipv6']],
};

/** `::ffff:10.0.0.1` (IPv4 on a dual-stack socket) is 10.0.0.1. */
function plainAddress(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}

export class ProxyTrust {
  private readonly all: boolean;
  private readonly list = new BlockList();
  /** false when the list is empty: the common trustProxy: false answers without a BlockList lookup. */
  private readonly some: boolean;

  constructor(setting: boolean | string[]) {
    this.all = setting === true;
    this.some = Array.isArray(setting) && setting.some((s) => s.trim() !== '');
    if (Array.isArray(setting)) {
      for (const entry of setting.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)) {
        const named = NAMED[entry];
        if (named) {
          for (const [net, prefix, type] of named) this.list.addSubnet(net, prefix, type);
          continue;
        }
        const [addr, bits] = entry.split('/') as [string, string | undefined];
        const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
        if (bits === undefined) this.list.addAddress(plainAddress(addr), type);
        else this.list.addSubnet(addr, Number(bits), type);
      }
    }
  }

  isTrusted(remoteAddress: string | undefined): boolean {
    if (this.all) return true;
    if (!this.some || !remoteAddress) return false;
    const addr = plainAddress(remoteAddress);
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    return this.list.check(addr, type);
  }

  /**
   * The client chain for an upstream X-Forwarded-For, client first: the X-Forwarded-For entries a
   * trusted peer vouches for (walking right to left, up to the first untrusted hop), then the peer.
   */
  chain(remoteAddress: string | undefined, xff: string | string[] | undefined): string[] {
    const peer = remoteAddress ?? '';
    const out = [peer];
    if (!this.isTrusted(peer) || xff === undefined) return out;
    const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',').map((s) => s.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      out.unshift(hops[i]!);
      if (!this.isTrusted(hops[i])) break;
    }
    return out;
  }

  /**
   * A forwarded header (X-Forwarded-Host, -Proto) as the nearest proxy wrote it, only when that
   * peer is trusted: the LAST comma-separated entry, since appending proxies add theirs at the end
   * and whatever the client wrote comes first (fastify reads them the same way). The one parser
   * for the HTTP proxy, websocket upgrades and forward-auth.
   */
  forwarded(remoteAddress: string | undefined, value: string | string[] | undefined): string | undefined {
    if (value === undefined || !this.isTrusted(remoteAddress)) return undefined;
    const joined = Array.isArray(value) ? value.join(',') : value;
    const last = joined.slice(joined.lastIndexOf(',') + 1).trim();
    return last || undefined;
  }

  /** The host the client addressed: a trusted peer's X-Forwarded-Host, else Host ('' when neither). */
  requestHost(remoteAddress: string | undefined, headers: IncomingHttpHeaders): string {
    return this.forwarded(remoteAddress, headers['x-forwarded-host']) ?? headers.host ?? '';
  }

  /** The scheme the client used: a trusted peer's X-Forwarded-Proto, else the connection's own. */
  requestProto(remoteAddress: string | undefined, headers: IncomingHttpHeaders, encrypted: boolean): string {
    return this.forwarded(remoteAddress, headers['x-forwarded-proto'])?.toLowerCase() ?? (encrypted ? 'https' : 'http');
  }
}
