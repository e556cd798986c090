/**
 * Options and statistics of the embedded broker (embedded-broker.ts), and reading its PEM material. The options are
 * one lib/options.ts schema with what each means and its default (an unknown option is refused with a suggestion, a
 * bad value names the field; EL_ERR_INVALID_ARGUMENT); the cloud config's `broker.embedded` section reads its
 * defaults.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { callback, dependency, optionRuleError, parseOptions } from '../../lib/options.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { AcceptInput, IngestOutcome } from '../ingest/ingest-options.ts';
import type { DeadLetterInput } from '../dlq/sqlite-dlq.ts';
import type { Credentials } from './credentials.ts';
import { LoginRateLimitOptionsSchema } from './login-rate-limiter.ts';

const W = 'EmbeddedBroker';
const CODE = 'EL_ERR_INVALID_ARGUMENT';
const port = z.number().int().min(0).max(65535);
/** PEM text or a file path */
const pemOrPath = z.string({ error: 'required (PEM text or a file path)' }).min(1);

export const BrokerTlsOptionsSchema = z.strictObject({
  /** TLS listener port (0 = any free port) */
  port: port.default(8883),
  /** server certificate and key: PEM text or a file path */
  cert: pemOrPath,
  key: pemOrPath,
  /** CA that signs device certificates (PEM text or path); without it client certificates are not requested */
  ca: pemOrPath.optional(),
  /** refuse TLS connections without a valid client certificate (otherwise password auth over TLS is allowed) */
  requireClientCert: z.boolean().default(false),
});

/**
 * The broker's failed-login limits: the LoginRateLimiter's, and `limitLoopback: true` also limits loopback client
 * addresses (by default they are this machine's own processes and only their usernames are limited).
 */
export const BrokerLoginRateLimitSchema = LoginRateLimitOptionsSchema.extend({
  limitLoopback: z.boolean().default(false),
});

export const EmbeddedBrokerOptionsSchema = z.strictObject({
  /** listen address (use 0.0.0.0 to accept devices from the network) */
  host: z.string().min(1).default('127.0.0.1'),
  /** plain MQTT port; 0 = any free port, null = no plain listener (TLS only) */
  port: port.nullable().default(1883),
  tls: BrokerTlsOptionsSchema.optional(),
  credentials: dependency<Credentials>('a Credentials').optional(),
  /** accept clients without credentials as devices named by their client id */
  allowAnonymous: z.boolean().default(false),
  /** allow allowAnonymous on a non-loopback host (anyone on the network may connect) */
  insecure: z.boolean().default(false),
  /** failed-login limits (BrokerLoginRateLimitSchema, checked on its own), or false for none */
  loginRateLimit: z
    .union([z.literal(false), z.record(z.string(), z.unknown())], {
      error: 'expected false or the login rate limits',
    })
    .default({}),
  /** a device's MQTT client id must equal its deviceId */
  requireClientIdMatch: z.boolean().default(true),
  /** certificate CNs must also be listed under credentials.devices */
  requireRegisteredDevices: z.boolean().default(false),
  /** what to do with an unauthorised publish after dead-lettering it */
  unauthorizedPublish: z.enum(['quarantine', 'disconnect']).default('quarantine'),
  topicPrefix: z.string().optional(),
  /** in-path ingest: device messages are acknowledged only after accept() resolves */
  ingest: dependency<{ accept(msg: AcceptInput): Promise<IngestOutcome> }>('an Ingest').optional(),
  /** refused publishes (unauthorised) go here, e.g. SqliteDlq.add */
  onRefused: callback<(d: DeadLetterInput) => void>().optional(),
  /** time allowed for in-flight messages when closing, ms */
  drainTimeoutMs: z.number().min(0).default(5000),
  logger: dependency<Logger>('a Logger').optional(),
  /** time source of the login rate limiter; default the system clock */
  clock: dependency<Pick<Clock, 'now'>>('a Clock').optional(),
});

export type BrokerTlsOptions = z.input<typeof BrokerTlsOptionsSchema>;
export type EmbeddedBrokerOptions = z.input<typeof EmbeddedBrokerOptionsSchema>;

/** The broker's defaults (the cloud config's `broker.embedded` section reads them). */
export const BROKER_DEFAULTS = Object.freeze(EmbeddedBrokerOptionsSchema.parse({}));

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
export type ResolvedBrokerOptions = Readonly<
  Omit<z.output<typeof EmbeddedBrokerOptionsSchema>, 'tls' | 'loginRateLimit'> & {
    tls: z.output<typeof BrokerTlsOptionsSchema> | undefined;
    loginRateLimit: z.output<typeof BrokerLoginRateLimitSchema> | false;
  }
>;

/** Check the options (see the header) and apply the defaults; frozen. */
export function resolveBrokerOptions(opts: EmbeddedBrokerOptions): ResolvedBrokerOptions {
  const o = parseOptions(EmbeddedBrokerOptionsSchema, opts, { where: W, code: CODE });
  if (o.port === null && !o.tls)
    throw optionRuleError(W, 'port', 'port is null and no tls listener is configured', CODE);
  const loginRateLimit =
    o.loginRateLimit === false
      ? false
      : parseOptions(BrokerLoginRateLimitSchema, o.loginRateLimit, {
          where: W,
          code: CODE,
          prefix: ['loginRateLimit'],
        });
  return Object.freeze({ ...o, tls: o.tls, loginRateLimit });
}
