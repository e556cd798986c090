/**
 * A listener that accepts writes without credentials is safe on loopback only. `assertSecureListener` refuses to
 * bind such a listener to any other address unless the caller set an explicit `insecure` option, and logs a loud
 * warning when it does.
 */
import { isIP } from 'node:net';
import { EdgeloopError } from '../protocol/errors.ts';
import type { Logger } from './logger.ts';

/** true for `localhost`, 127.0.0.0/8, `::1` and IPv4-mapped 127.x (`::ffff:127.0.0.1`); brackets are allowed. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  if (isIP(h) === 6) return /^(0{0,4}:){7}0{0,3}1$|^::1$/.test(h);
  return false;
}

export interface SecureListenerCheck {
  host: string;
  port?: number;
  /** a credential (bearer token, password file, client certificates) protects the listener's writes */
  authConfigured: boolean;
  /** the explicit opt-out: serve without credentials on a non-loopback address */
  insecure: boolean;
  /** the listener, as the error names it: "registry", "rollout controller", ... */
  what: string;
  logger?: Logger;
}

/**
 * Throws EL_ERR_INSECURE_LISTENER when `host` is not loopback, no auth is configured and `insecure` is false;
 * warns through `logger` when `insecure` lets such a listener start.
 */
export function assertSecureListener(o: SecureListenerCheck): void {
  if (o.authConfigured || isLoopbackHost(o.host)) return;
  const where = `${o.host}${o.port === undefined ? '' : `:${o.port}`}`;
  if (!o.insecure) {
    throw new EdgeloopError(
      'EL_ERR_INSECURE_LISTENER',
      `${o.what}: refusing to listen on ${where} (not loopback) without authentication: configure a token, ` +
        `bind to 127.0.0.1, or set the "insecure" option (--insecure) to accept unauthenticated writes from the network`,
      { details: { what: o.what, host: o.host, ...(o.port === undefined ? {} : { port: o.port }) } },
    );
  }
  o.logger?.warn(
    { what: o.what, host: o.host, port: o.port, insecure: true },
    `INSECURE: ${o.what} listens on ${where} without authentication; anyone who can reach it can write`,
  );
}
