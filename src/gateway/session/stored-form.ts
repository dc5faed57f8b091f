/**
 * SessionData as it is sealed (store.ts): the same members, except that the id and access tokens
 * are kept as [header, payload, signature] with header and payload as JSON objects instead of
 * base64url text.
 *
 * Why: a session is deflated before it is sealed (sealed-json.ts), and base64url hides from deflate
 * everything the two tokens and the claims repeat (issuer, subject, audience, names, email,
 * groups). Decoded, deflate finds the repeats: a session with RS256 id and access tokens went from
 * ~2,150 to ~1,600 bytes in Redis (issue 3's goal: at most 3 KB per session, indexes included).
 *
 * A token is packed only when unpacking gives back the very same string (canonical base64url,
 * UTF-8 JSON that JSON.stringify writes back byte for byte, as jose and most issuers produce);
 * anything else is kept as it came. Values sealed before this format (plain strings) read as before.
 */
import type { SessionData } from './session.js';

type JsonObject = Record<string, unknown>;
/** A JWT as stored: header and payload decoded, the signature as it was. */
type PackedJwt = [header: JsonObject, payload: JsonObject, signature: string];

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON object a base64url segment encodes, or null when it would not encode back to `segment` exactly. */
function decodeSegment(segment: string): JsonObject | null {
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.toString('base64url') !== segment) return null; // non-canonical base64url
  const text = bytes.toString('utf8');
  // Not valid UTF-8 (decoding replaced bytes with U+FFFD): a length check is not enough, as a
  // 4-byte sequence cut after 3 bytes becomes one U+FFFD, itself 3 bytes.
  if (!Buffer.from(text, 'utf8').equals(bytes)) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return isObject(value) && JSON.stringify(value) === text ? value : null;
}

export function packJwt(jwt: string): string | PackedJwt {
  const parts = jwt.split('.');
  if (parts.length !== 3) return jwt;
  const header = decodeSegment(parts[0]!);
  const payload = header && decodeSegment(parts[1]!);
  return header && payload ? [header, payload, parts[2]!] : jwt;
}

const encode = (o: JsonObject): string => Buffer.from(JSON.stringify(o)).toString('base64url');

/** The token a stored member holds, or undefined for anything that is not one. */
export function unpackJwt(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.length === 3 && isObject(v[0]) && isObject(v[1]) && typeof v[2] === 'string') {
    return `${encode(v[0])}.${encode(v[1])}.${v[2]}`;
  }
  return undefined;
}

/**
 * Version of a stored value holding a packed token. Replicas from before this format check
 * `v === 1` and would read a packed token as garbage (a Bearer header of "[object Object]"):
 * with v 2 they see no session and start a login instead, which writes a v 1 value every
 * version reads. So a rolling upgrade or a rollback costs some users one login, nothing worse.
 */
const PACKED_VERSION = 2;

/** What is sealed for a session. */
export function toStored(data: SessionData): unknown {
  const idt = data.idt !== undefined ? packJwt(data.idt) : undefined;
  const at = data.at !== undefined ? packJwt(data.at) : undefined;
  const packed = Array.isArray(idt) || Array.isArray(at);
  return {
    ...data,
    ...(packed ? { v: PACKED_VERSION } : {}),
    ...(idt !== undefined ? { idt } : {}),
    ...(at !== undefined ? { at } : {}),
  };
}

/** The session a sealed value holds (as SessionData, v 1), or null when it is not one. */
export function fromStored(raw: unknown): SessionData | null {
  if (!isObject(raw) || (raw.v !== 1 && raw.v !== PACKED_VERSION) || typeof raw.exp !== 'number') return null;
  const data = { ...raw, v: 1 } as unknown as SessionData;
  if (raw.idt !== undefined) {
    const idt = unpackJwt(raw.idt);
    if (idt === undefined) return null;
    data.idt = idt;
  }
  if (raw.at !== undefined) {
    const at = unpackJwt(raw.at);
    if (at === undefined) return null;
    data.at = at;
  }
  return data;
}
