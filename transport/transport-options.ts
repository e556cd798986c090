/**
 * Option validation shared by the transports: zod schemas for the data part of the options (the same schemas back
 * the agent's config file through TransportConfigSchema), misspelled option names rejected with a hint, and the
 * defaults of the flow-control and reconnect policy.
 */
import { z } from 'zod';
import { EdgeloopError } from '../protocol/errors.ts';
import type { RetryPolicy } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';
import { issuesLine } from '../protocol/zod-issues.ts';
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

function editDistance(a: string, b: string): number {
  const al = a.toLowerCase();
  const bl = b.toLowerCase();
  const prev = Array.from({ length: bl.length + 1 }, (_, i) => i);
  for (let i = 1; i <= al.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= bl.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (al[i - 1] === bl[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[bl.length]!;
}

/** The closest known name, if it is close enough to be a likely misspelling. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3))) return best;
  // "keepAlive" -> "keepaliveSeconds": a known name that starts with the given one (or the reverse)
  if (lower.length >= 4) {
    return (
      known.find((k) => k.toLowerCase().startsWith(lower)) ??
      known.find((k) => k.length >= 4 && lower.startsWith(k.toLowerCase()))
    );
  }
  return undefined;
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault) s = s.unwrap() as z.ZodType;
    else break;
  }
  return s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodType>) : undefined;
}

/** Throw EL_ERR_CONFIG_INVALID for the first unknown key (recursively), with a "did you mean" hint. */
export function assertKnownKeys(
  schema: z.ZodType,
  value: unknown,
  where: string,
  extra: readonly string[] = [],
  path: string[] = [],
): void {
  const shape = objectShape(schema);
  if (!shape || typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
    return;
  const known = [...Object.keys(shape), ...(path.length === 0 ? extra : [])];
  for (const [k, v] of Object.entries(value)) {
    if (!known.includes(k)) {
      const hint = suggest(k, known);
      const field = [...path, k].join('.');
      throw new EdgeloopError(
        'EL_ERR_CONFIG_INVALID',
        `${where}: unknown option "${field}"${hint ? ` (did you mean "${[...path, hint].join('.')}"?)` : ''}; known options: ${known.join(', ')}`,
      );
    }
    if (shape[k]) assertKnownKeys(shape[k], v, where, extra, [...path, k]);
  }
}

/** Validate with a zod schema; errors name the field: `MqttTransport: maxInFlight: Too small: expected number to be >=1`. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
  extra: readonly string[] = [],
): z.infer<S> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${where}: options must be an object`);
  }
  assertKnownKeys(schema, value, where, extra);
  const stripped: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const k of extra) delete stripped[k];
  const r = schema.safeParse(stripped);
  if (!r.success) {
    const msg = issuesLine(r.error.issues, { root: '(options)' });
    throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `${where}: ${msg}`, { cause: r.error });
  }
  return r.data;
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
