/**
 * Option schemas shared by the transports: zod schemas for the data part of the options (the same schemas back
 * the agent's config file through TransportConfigSchema), checked by lib/options.ts, and the defaults of the flow-control and reconnect policy.
 */
import { z } from 'zod';
import type { RetryPolicy } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';
import { parseOptions } from '../lib/options.ts';
import { PublishGate } from './publish-gate.ts';

/** Reconnect policy defaults: first retry within 1 s, cap 60 s, full jitter, never give up. */
export const DEFAULT_RECONNECT: RetryPolicy = Object.freeze({
  minMs: 1000,
  maxMs: 60_000,
  factor: 2,
  jitter: 'full',
  maxAttempts: Infinity,
});

export const ReconnectSchema = z.strictObject({
  minMs: z.number().int().min(1).optional(),
  maxMs: z.number().int().min(1).optional(),
  factor: z.number().min(1).optional(),
  jitter: z.enum(['full', 'none']).optional(),
  maxAttempts: z.number().int().min(1).or(z.literal(Infinity)).optional(),
});

/** Bytes (Buffer or any Uint8Array) */
export const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected a Buffer or Uint8Array');

const payload = z.union([z.string(), bytes]);

export const WillSchema = z.strictObject({
  topic: z
    .string()
    .min(1)
    .refine((t) => !/[#+]/.test(t), 'a will topic cannot contain MQTT wildcards'),
  payload,
  qos: z.union([z.literal(0), z.literal(1)]).optional(),
  retain: z.boolean().optional(),
});

/** Options common to both transports (data only; clock, random and logger are checked by hand). */
export const commonShape = {
  clientId: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9._:-]+$/, 'clientId: use 1-128 characters of [A-Za-z0-9._:-] (AWS IoT: the thing name)'),
  keepaliveSeconds: z.number().int().min(0).max(65_535).optional(),
  connectTimeoutMs: z.number().int().min(100).optional(),
  clean: z.boolean().optional(),
  sessionExpirySeconds: z.number().int().min(0).max(4_294_967_295).optional(),
  will: WillSchema.optional(),
  reconnect: ReconnectSchema.optional(),
  stableAfterMs: z.number().int().min(0).optional(),
  maxInFlight: z.number().int().min(1).max(65_535).optional(),
  publishRatePerSecond: z.number().min(0).optional(),
  publishBurst: z.number().int().min(1).optional(),
  maxWaiting: z.number().int().min(0).optional(),
  publishTimeoutMs: z.number().int().min(1).optional(),
  maxPayloadBytes: z.number().int().min(1).max(268_435_455).optional(),
  startTimeoutMs: z.number().int().min(0).optional(),
  closeTimeoutMs: z.number().int().min(0).optional(),
};

/** Keys accepted in options objects besides the schema (injected dependencies). */
export const INJECTED_KEYS = ['clock', 'random', 'logger'] as const;

export { assertKnownKeys, suggest } from '../lib/options.ts';

/** Validate with a zod schema (lib/options.ts); errors name the field: `MqttTransport: maxInFlight: Too small: …`. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
  extra: readonly string[] = [],
): z.infer<S> {
  return parseOptions(schema, value, { where, injected: extra });
}

/** Burst default for a rate cap: a tenth of a second of publishes, at least 1 (bounds any 1 s window to ~1.1x the rate). */
function defaultBurst(rate: number): number {
  return Math.max(1, Math.ceil(rate / 10));
}

/** A transport's PublishGate from its flow-control options (commonShape), with the transport's default rate cap. */
export function publishGateFor<T>(
  o: {
    maxInFlight?: number | undefined;
    publishRatePerSecond?: number | undefined;
    publishBurst?: number | undefined;
    maxWaiting?: number | undefined;
  },
  defaultRate: number,
  clock: Clock,
  onGrant: (item: T) => void,
): PublishGate<T> {
  const rate = o.publishRatePerSecond ?? defaultRate;
  return new PublishGate<T>({
    maxInFlight: o.maxInFlight ?? 100,
    ratePerSecond: rate,
    burst: o.publishBurst ?? defaultBurst(rate),
    maxWaiting: o.maxWaiting ?? 10_000,
    clock,
    onGrant,
  });
}

export function toBuffer(p: Uint8Array | string): Buffer {
  if (typeof p === 'string') return Buffer.from(p, 'utf8');
  return Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}
