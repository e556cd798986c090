/** Options and statistics of the embedded broker (embedded-broker.ts), and reading its PEM material. */
import { checkKnownOptions } from '../../lib/options.ts';
import { readFileSync } from 'node:fs';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { AcceptInput, IngestOutcome } from '../ingest/ingest.ts';
import type { DeadLetterInput } from '../dlq/sqlite-dlq.ts';
import type { Credentials } from './credentials.ts';
import type { LoginRateLimitOptions } from './login-rate-limiter.ts';

export interface BrokerTlsOptions {
  /** TLS listener port; default 8883 (0 = any free port) */
  port?: number;
  /** server certificate and key: PEM text or a file path */
  cert: string;
  key: string;
  /** CA that signs device certificates (PEM text or path); without it client certificates are not requested */
  ca?: string | undefined;
  /** refuse TLS connections without a valid client certificate; default false (password auth over TLS allowed) */
  requireClientCert?: boolean;
}

export interface EmbeddedBrokerOptions {
  /** listen address; default 127.0.0.1 (use 0.0.0.0 to accept devices from the network) */
  host?: string;
  /** plain MQTT port; default 1883, 0 = any free port, null = no plain listener (TLS only) */
  port?: number | null;
  tls?: BrokerTlsOptions | undefined;
  credentials?: Credentials;
  /** accept clients without credentials as devices named by their client id; default false */
  allowAnonymous?: boolean;
  /** allow allowAnonymous on a non-loopback host (anyone on the network may connect); default false */
  insecure?: boolean;
  /** failed-login rate limiting per client address and per username; false = off; default: the limiter's defaults */
  /**
   * failed-login limits (LoginRateLimiter), or false for none; `limitLoopback: true` also limits loopback client
   * addresses (by default they are this machine's own processes and only their usernames are limited)
   */
  loginRateLimit?: (LoginRateLimitOptions & { limitLoopback?: boolean }) | false;
  /** a device's MQTT client id must equal its deviceId; default true */
  requireClientIdMatch?: boolean;
  /** certificate CNs must also be listed under credentials.devices; default false */
  requireRegisteredDevices?: boolean;
  /** what to do with an unauthorised publish after dead-lettering it; default 'quarantine' */
  unauthorizedPublish?: 'quarantine' | 'disconnect';
  topicPrefix?: string;
  /** in-path ingest: device messages are acknowledged only after accept() resolves */
  ingest?: { accept(msg: AcceptInput): Promise<IngestOutcome> } | undefined;
  /** refused publishes (unauthorised) go here, e.g. SqliteDlq.add */
  onRefused?: ((d: DeadLetterInput) => void) | undefined;
  /** time allowed for in-flight messages when closing, ms; default 5000 */
  drainTimeoutMs?: number;
  logger?: Logger;
  /** time source of the login rate limiter; default the system clock */
  clock?: Pick<Clock, 'now'>;
}

export interface BrokerStats {
  connectedClients: number;
  connectedDevices: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  authFailures: number;
  refusedPublishes: number;
  refusedSubscriptions: number;
  ingestRefusals: number;
  /** connections refused without a password check: their address or username was locked out */
  loginsRateLimited: number;
  /** addresses or usernames locked out after repeated failed logins */
  loginLockouts: number;
  /** CONNECTs refused for their protocol (MQTT 5, empty client id with CleanSession=0) */
  protocolRefusals: number;
}

export const BROKER_OPTION_NAMES: ReadonlySet<string> = new Set([
  'host',
  'port',
  'tls',
  'credentials',
  'allowAnonymous',
  'requireClientIdMatch',
  'requireRegisteredDevices',
  'unauthorizedPublish',
  'topicPrefix',
  'ingest',
  'onRefused',
  'drainTimeoutMs',
  'logger',
  'insecure',
  'loginRateLimit',
  'clock',
]);

/** PEM text as given, or read from the file path given. */
export function pem(v: string | undefined, what: string): string | undefined {
  if (v === undefined) return undefined;
  if (v.includes('-----BEGIN')) return v;
  try {
    return readFileSync(v, 'utf8');
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_BROKER_TLS', `cannot read TLS ${what} ${v}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/** The broker's settings after checks and defaults. */
export interface ResolvedBrokerOptions {
  host: string;
  port: number | null;
  allowAnonymous: boolean;
  insecure: boolean;
  requireClientIdMatch: boolean;
  requireRegisteredDevices: boolean;
  unauthorizedPublish: 'quarantine' | 'disconnect';
  drainTimeoutMs: number;
}

/** Check the options (EL_ERR_INVALID_ARGUMENT naming the option) and apply the defaults. */
export function resolveBrokerOptions(opts: EmbeddedBrokerOptions): ResolvedBrokerOptions {
  checkKnownOptions('EmbeddedBroker', opts, BROKER_OPTION_NAMES, 'EL_ERR_INVALID_ARGUMENT');
  const up = opts.unauthorizedPublish ?? 'quarantine';
  if (up !== 'quarantine' && up !== 'disconnect') {
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      `EmbeddedBroker: unauthorizedPublish must be "quarantine" or "disconnect", got ${JSON.stringify(up)}`,
    );
  }
  const port = opts.port === undefined ? 1883 : opts.port;
  if (port !== null && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `EmbeddedBroker: port must be 0-65535 or null, got ${port}`);
  }
  if (port === null && !opts.tls)
    throw new EdgeloopError(
      'EL_ERR_INVALID_ARGUMENT',
      'EmbeddedBroker: port is null and no tls listener is configured',
    );
  return Object.freeze({
    host: opts.host ?? '127.0.0.1',
    port,
    allowAnonymous: opts.allowAnonymous ?? false,
    insecure: opts.insecure ?? false,
    requireClientIdMatch: opts.requireClientIdMatch ?? true,
    requireRegisteredDevices: opts.requireRegisteredDevices ?? false,
    unauthorizedPublish: up,
    drainTimeoutMs: opts.drainTimeoutMs ?? 5000,
  });
}
