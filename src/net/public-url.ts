import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { KeyhavenError } from '../errors.ts';

/**
 * Outbound URLs chosen by callers (webhook endpoints, video input images) must not reach into the
 * network Keyhaven runs in: every address the host resolves to has to be a public unicast address.
 * KEYHAVEN_ALLOW_PRIVATE_URLS=true lifts the address check for local development and tests; the scheme
 * check always applies.
 */
export interface PublicUrlOptions {
  allowPrivate: boolean;
  /** Which schemes are acceptable. Default: https and http. */
  schemes?: readonly string[];
  /** Resolves a host name to its addresses (tests replace it). */
  resolve?: (host: string) => Promise<string[]>;
}

async function resolveAll(host: string): Promise<string[]> {
  const addresses = await lookup(host, { all: true, verbatim: true });
  return addresses.map((entry) => entry.address);
}

/** True for an address anyone on the internet could reach: not loopback, private, link-local, etc. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    // ::ffff:10.0.0.1 and friends are the IPv4 address in disguise.
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
  }
  return parsed.range() === 'unicast';
}

function refuse(field: string, message: string): KeyhavenError {
  return new KeyhavenError('invalid_request', `${field}: ${message}`, { details: { field } });
}

/**
 * Checks a caller-supplied URL and returns it parsed. Refuses other schemes, credentials in the URL,
 * hosts that do not resolve, and (unless allowed) hosts that resolve to a non-public address.
 */
export async function assertPublicUrl(
  value: string,
  field: string,
  { allowPrivate, schemes = ['https:', 'http:'], resolve = resolveAll }: PublicUrlOptions,
): Promise<URL> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw refuse(field, 'must be an absolute URL');
  }
  if (!schemes.includes(url.protocol)) {
    throw refuse(field, `must use ${schemes.map((scheme) => scheme.replace(':', '')).join(' or ')}`);
  }
  if (url.username !== '' || url.password !== '') throw refuse(field, 'must not contain credentials');
  if (allowPrivate) return url;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (ipaddr.isValid(host)) addresses = [host];
  else {
    try {
      addresses = await resolve(host);
    } catch {
      throw refuse(field, `host ${JSON.stringify(host)} does not resolve`);
    }
  }
  if (addresses.length === 0 || !addresses.every(isPublicAddress)) {
    throw refuse(
      field,
      'resolves to a loopback or private address (set KEYHAVEN_ALLOW_PRIVATE_URLS=true for local development)',
    );
  }
  return url;
}
