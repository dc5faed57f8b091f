/** server.trustProxy as the gateway applies it to websockets, forward-auth and X-Forwarded-For. */
import t from 'tap';
import { ProxyTrust } from '../../src/gateway/trust.js';

t.test('who is trusted', async (t) => {
  const cases: Array<[boolean | string[], string | undefined, boolean]> = [
    [false, '127.0.0.1', false],
    [true, '203.0.113.9', true],
    [['10.0.0.0/8'], '10.1.2.3', true],
    [['10.0.0.0/8'], '11.0.0.1', false],
    [['10.0.0.0/8'], '::ffff:10.1.2.3', true],
    [['192.168.1.5'], '192.168.1.5', true],
    [['192.168.1.5'], '192.168.1.6', false],
    [['loopback'], '127.0.0.1', true],
    [['loopback'], '::1', true],
    [['uniquelocal'], '172.20.0.1', true],
    [['uniquelocal'], '172.32.0.1', false],
    [['fd00::/8'], 'fd12::1', true],
    [['10.0.0.1, 10.0.0.2'], '10.0.0.2', true],
    [['10.0.0.0/8'], undefined, false],
  ];
  for (const [setting, addr, want] of cases) t.equal(new ProxyTrust(setting).isTrusted(addr), want, `${JSON.stringify(setting)} ${addr}`);
});

t.test('the X-Forwarded-For chain stops at the first untrusted hop', async (t) => {
  const trust = new ProxyTrust(['10.0.0.0/8']);
  t.same(trust.chain('10.0.0.1', '1.2.3.4, 10.0.0.7'), ['1.2.3.4', '10.0.0.7', '10.0.0.1']);
  t.same(trust.chain('10.0.0.1', '6.6.6.6, 1.2.3.4, 10.0.0.7'), ['1.2.3.4', '10.0.0.7', '10.0.0.1'], 'what the client wrote before the first untrusted hop is dropped');
  t.same(trust.chain('203.0.113.1', '1.2.3.4'), ['203.0.113.1'], 'an untrusted peer vouches for nothing');
  t.same(new ProxyTrust(false).chain('127.0.0.1', '6.6.6.6'), ['127.0.0.1']);
  t.equal(trust.forwarded('8.8.8.8', 'a.example'), undefined);
});

t.test('forwarded headers: the last entry (the nearest proxy), only from a trusted peer', async (t) => {
  const trust = new ProxyTrust(['10.0.0.0/8']);
  t.equal(trust.forwarded('10.0.0.1', 'evil.example, real.example'), 'real.example', 'what the client wrote comes first');
  t.equal(trust.forwarded('10.0.0.1', ['evil.example', 'real.example']), 'real.example', 'repeated headers too');
  t.equal(trust.forwarded('10.0.0.1', 'real.example'), 'real.example');
  t.equal(trust.forwarded('10.0.0.1', 'a, '), undefined, 'an empty last entry is no value');
  t.equal(trust.requestHost('10.0.0.1', { host: 'gw:8080', 'x-forwarded-host': 'evil.example, real.example' }), 'real.example');
  t.equal(trust.requestHost('8.8.8.8', { host: 'gw:8080', 'x-forwarded-host': 'real.example' }), 'gw:8080', 'untrusted: Host');
  t.equal(trust.requestHost('8.8.8.8', {}), '');
  t.equal(trust.requestProto('10.0.0.1', { 'x-forwarded-proto': 'http, HTTPS' }, false), 'https');
  t.equal(trust.requestProto('8.8.8.8', { 'x-forwarded-proto': 'https' }, false), 'http');
  t.equal(trust.requestProto('8.8.8.8', {}, true), 'https');
});
