/**
 * Guard against opening a listener to the network by accident: a non-loopback listener must have authentication
 * configured, or be opened with an explicit `insecure` option (which is then logged as a warning).
 * Shared by the embedded MQTT broker and the HTTP servers.
 */
import { BlockList, isIP } from 'node:net';
import { EdgeloopError } from '../protocol/errors.ts';
import type { Logger } from './logger.ts';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True when `host` can only be reached from this machine: `localhost`, 127.0.0.0/8, `::1` (also IPv4-mapped). */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  const family = isIP(h);
  // names other than localhost and the wildcard addresses (0.0.0.0, ::, '') may reach the network
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Throw EL_ERR_INSECURE_LISTENER when a listener would accept connections from the network without
 * authentication; with `insecure: true` log a warning instead. Loopback listeners always pass.
 */
export function assertSecureListener(o: {
  host: string;
  port?: number;
  authConfigured: boolean;
  insecure: boolean;
  what: string;
  logger?: Logger;
}): void {
  if (o.authConfigured || isLoopbackHost(o.host)) return;
  const where = o.port === undefined ? o.host : `${o.host}:${o.port}`;
  if (o.insecure) {
    o.logger?.warn({ listener: o.what, host: o.host, port: o.port }, `INSECURE: ${o.what} listens on ${where} without authentication; anyone on the network can connect`);
    return;
  }
  throw new EdgeloopError(
    'EL_ERR_INSECURE_LISTENER',
    `${o.what} would listen on ${where}, reachable from the network, without authentication: configure authentication, listen on 127.0.0.1, or set the insecure option to accept this`,
    { details: { what: o.what, host: o.host, port: o.port } },
  );
}
