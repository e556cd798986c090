/**
 * Rollout specification: parsing and validation of stages, bake time, failure budget, gates, rate and cohort.
 * Shared by the CLI (flags), the controller's HTTP API (JSON) and the state machine. Pure.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { z } from 'zod';
import { assertKnownKeys, parseOptions } from '../../lib/options.ts';
import { isValidId } from '../../protocol/topics.ts';

export const GATE_METRICS = {
  anomaly_rate: { field: 'anomalyRate', floor: 0.001, unit: 'fraction of windows' },
  p50_inference_ms: { field: 'p50Ms', floor: 0.05, unit: 'ms' },
  p95_inference_ms: { field: 'p95Ms', floor: 0.05, unit: 'ms' },
  p99_inference_ms: { field: 'p99Ms', floor: 0.05, unit: 'ms' },
} as const;
export type GateMetric = keyof typeof GATE_METRICS;

/**
 * Gates of the shadow stage, judged on what the shadow devices report (StatusMessage.shadow): the candidate against
 * the active model on the same devices and windows. `op` is the only comparison each metric takes.
 */
export const SHADOW_GATE_METRICS = {
  /** fraction of paired windows where both models made the same anomaly decision (pooled over the devices) */
  shadow_agreement: { op: '>=', floor: 0, unit: 'fraction of windows', relative: false },
  /** the candidate's would-be anomaly rate; FACTORx compares it with the active model's rate on the same windows */
  shadow_anomaly_rate: { op: '<=', floor: 0.001, unit: 'fraction of windows', relative: true },
  shadow_p50_ms: { op: '<=', floor: 0.05, unit: 'ms', relative: true },
  shadow_p95_ms: { op: '<=', floor: 0.05, unit: 'ms', relative: true },
  shadow_p99_ms: { op: '<=', floor: 0.05, unit: 'ms', relative: true },
} as const;
export type ShadowGateMetric = keyof typeof SHADOW_GATE_METRICS;

export interface Gate {
  metric: GateMetric;
  /** compare with the rest of the fleet: cohort <= factor x baseline */
  factor?: number;
  /** compare with an absolute value: cohort <= value */
  value?: number;
  /** the expression as written */
  expr: string;
}

export interface ShadowGate {
  metric: ShadowGateMetric;
  op: '<=' | '>=';
  /** relative to the active model on the same devices: candidate <= factor x active */
  factor?: number;
  value?: number;
  expr: string;
}

/** The shadow stage: the candidate runs beside the active model on a cohort before the first canary stage. */
export interface ShadowSpec {
  /** share of the population that runs the candidate in shadow, % */
  percent: number;
  /** time the shadow runs once its devices run it, ms */
  bakeMs: number;
  gates: ShadowGate[];
  /** paired windows a device must have reported before its figures count */
  minWindows: number;
  /** devices with at least minWindows before the gates are judged */
  minDevices: number;
}

export interface RolloutSpec {
  model: string;
  version: string;
  /** cumulative percentages of the population, ascending, the last one usually 100 */
  stages: number[];
  /** time each stage bakes after its devices are active, ms */
  bakeMs: number;
  /** abort and roll back when failed devices exceed this percentage of the devices assigned so far */
  maxFailurePct: number;
  gates: Gate[];
  /** new device assignments per minute (undefined = no limit) */
  ratePerMin: number | undefined;
  /** a device must report active within this time after its assignment (ms), or it is retried */
  deviceTimeoutMs: number;
  /** re-publications to a device that timed out before it counts as failed */
  retries: number;
  /** explicit population (a device list, or a group resolved by the controller) instead of the whole fleet */
  devices: string[] | undefined;
  /** group name the device list came from (informational) */
  group: string | undefined;
  /** status messages with fewer inference windows than this do not count for gates */
  minWindows: number;
  /**
   * cohorts are drawn from devices whose last status or report is at most this old (ms): a retained status of a
   * device that stopped reporting says nothing about it now
   */
  freshMs: number;
  /** a shadow stage before the first canary stage (undefined: none) */
  shadow?: ShadowSpec | undefined;
  /** after a passed shadow stage: go on (auto) or wait for `rollout approve` (manual) */
  approve?: 'auto' | 'manual';
  /** the version the candidate was trained from (a retraining candidate), for the history */
  parent?: string | undefined;
}

const CODE = 'EL_ERR_ROLLOUT_SPEC';
/** a duration (parseDuration), a percentage (parsePercent) or a rate (parseRate): a number or its text form */
const numberOrText = z.union([z.number(), z.string()]);
/** a gate: its expression or a parsed gate, checked by parseGate / parseShadowGate (EL_ERR_ROLLOUT_GATE) */
const gateList = z.array(z.custom<string | Gate | ShadowGate>());

/** The shadow stage's fields (`shadow: { ... }`), with their defaults; `stage` and `bake` are aliases. */
export const ShadowSpecSchema = z.strictObject({
  /** share of the population that runs the candidate in shadow, % */
  percent: numberOrText.default(10),
  stage: numberOrText.optional(),
  /** time the shadow runs once its devices run it (10 min) */
  bakeMs: numberOrText.default(10 * 60_000),
  bake: numberOrText.optional(),
  /** default (with no shadow_* gate in `gates` either): DEFAULT_SHADOW_GATES */
  gates: gateList.optional(),
  /** paired windows a device must have reported before its figures count */
  minWindows: z.number().int().min(1).default(100),
  /** devices with at least minWindows before the gates are judged */
  minDevices: z.number().int().min(1).default(1),
});

export const DEFAULT_SHADOW_GATES = ['shadow_agreement>=0.9', 'shadow_anomaly_rate<=1.5x'] as const;

/**
 * A rollout spec as the CLI, the HTTP API and candidates give it, with its defaults. `bake`, `maxFailures`, `rate`
 * and `fresh` are aliases of `bakeMs`, `maxFailurePct`, `ratePerMin` and `freshMs` (the text forms of the flags).
 */
export const RolloutSpecSchema = z.strictObject({
  model: z.string({ error: 'required (a model name)' }).refine(isValidId, 'not a model name'),
  version: z.string({ error: 'required (MODEL@VERSION)' }).min(1, 'required (MODEL@VERSION)'),
  /** cumulative percentages of the population, ascending ("1%,10%,50%,100%" or a list) */
  stages: z.union([z.string(), z.array(numberOrText)]).default([1, 10, 50, 100]),
  /** canary gates; shadow_* gates go to the shadow stage (and turn it on) */
  gates: gateList.default([]),
  /** time each stage bakes after its devices are active (10 min) */
  bakeMs: numberOrText.default(10 * 60_000),
  bake: numberOrText.optional(),
  /** abort and roll back when failed devices exceed this percentage of the devices assigned so far */
  maxFailurePct: numberOrText.default(5),
  maxFailures: numberOrText.optional(),
  /** new device assignments per minute (none: no limit) */
  ratePerMin: numberOrText.optional(),
  rate: numberOrText.optional(),
  /** a device must report active within this time after its assignment, or it is retried (10 min) */
  deviceTimeoutMs: numberOrText.default(10 * 60_000),
  /** re-publications to a device that timed out before it counts as failed */
  retries: z.number().int().min(0).max(100).default(2),
  /** explicit population instead of the whole fleet */
  devices: z
    .array(z.string(), { error: 'expected a non-empty list of device ids' })
    .min(1, 'expected a non-empty list of device ids')
    .optional(),
  /** group name the device list came from (informational) */
  group: z.string().optional(),
  /** status messages with fewer inference windows than this do not count for gates */
  minWindows: z.number().int().min(0).default(1),
  /** cohorts are drawn from devices heard from within this time: four status intervals of the agent's default (30 s) */
  freshMs: numberOrText.default(2 * 60_000),
  fresh: numberOrText.optional(),
  /** true: a shadow stage with the defaults; an object: its settings (ShadowSpecSchema) */
  shadow: z.union([z.boolean(), z.custom<ShadowSpecInput>()]).optional(),
  /** after a passed shadow stage: go on (auto) or wait for `rollout approve` (manual) */
  approve: z.enum(['auto', 'manual']).default('auto'),
  /** the version the candidate was trained from (a retraining candidate), for the history */
  parent: z.string().min(1, 'expected a version string').optional(),
});

export type ShadowSpecInput = z.input<typeof ShadowSpecSchema>;
export type RolloutSpecInput = z.input<typeof RolloutSpecSchema>;

/** The cohort freshness of a spec stored without one, ms. */
export const DEFAULT_FRESH_MS = RolloutSpecSchema.shape.freshMs.parse(undefined) as number;

function bad(msg: string): never {
  throw new EdgeloopError('EL_ERR_ROLLOUT_SPEC', msg);
}

/**
 * Check `value` with `schema` (lib/options.ts): a field the spec does not define is refused with a hint as every
 * component's unknown option is (`rollout spec: unknown field "bakee" (did you mean "bake"?)`), and a value of the
 * wrong type names its field.
 */
function parseFields<S extends z.ZodType>(schema: S, value: object, where: string, prefix: string[] = []): z.output<S> {
  assertKnownKeys(schema, value, where, { code: CODE, noun: 'field' });
  return parseOptions(schema, value, { where: 'rollout spec', code: CODE, prefix });
}

/** "250ms", "30s", "10m", "2h", or a number of ms. */
export function parseDuration(v: string | number, field: string): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) bad(`${field}: expected a non-negative duration, got ${v}`);
    return v;
  }
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) bad(`${field}: expected a duration like 500ms, 30s, 10m or 2h, got ${JSON.stringify(v)}`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(Number(m[1]) * mult);
}

/** "5%", "5" → 5 */
export function parsePercent(v: string | number, field: string): number {
  const n = typeof v === 'number' ? v : Number(v.trim().replace(/%$/, ''));
  if (!Number.isFinite(n) || n < 0 || n > 100 || (typeof v === 'string' && v.trim() === ''))
    bad(`${field}: expected a percentage 0-100 like 5%, got ${JSON.stringify(v)}`);
  return n;
}

/** "60/min", "2/s", "100/h", or a number per minute. */
export function parseRate(v: string | number, field = 'rate'): number {
  if (typeof v === 'number') {
    if (!(v > 0) || !Number.isFinite(v)) bad(`${field}: expected a positive rate, got ${v}`);
    return v;
  }
  const m = /^(\d+(?:\.\d+)?)\s*(?:\/\s*(s|sec|min|m|h|hour))?$/.exec(v.trim());
  if (!m || !(Number(m[1]) > 0))
    bad(`${field}: expected devices per time like 60/min, 2/s or 100/h, got ${JSON.stringify(v)}`);
  const unit = m[2] ?? 'min';
  const perMin = unit === 's' || unit === 'sec' ? 60 : unit === 'h' || unit === 'hour' ? 1 / 60 : 1;
  return Number(m[1]) * perMin;
}

/** Whether a gate expression names a shadow-stage metric (shadow_*). */
export function isShadowGate(expr: string | { expr: string }): boolean {
  const e = typeof expr === 'string' ? expr : expr?.expr;
  return typeof e === 'string' && /^\s*shadow_/i.test(e);
}

/**
 * "shadow_agreement>=0.9", "shadow_anomaly_rate<=1.5x" (relative to the active model on the same devices),
 * "shadow_p99_ms<=5" (absolute) or "shadow_p99_ms<=2x".
 */
export function parseShadowGate(expr: string): ShadowGate {
  const err = (why: string): never => {
    throw new EdgeloopError('EL_ERR_ROLLOUT_GATE', `shadow gate ${JSON.stringify(expr)}: ${why}`);
  };
  if (typeof expr !== 'string') err('expected a string like "shadow_agreement>=0.9"');
  const m = /^\s*([a-z0-9_]+)\s*(<=|>=)\s*(\d+(?:\.\d+)?(?:e-?\d+)?)\s*(x?)\s*$/i.exec(expr);
  if (!m) return err('expected METRIC<=VALUE, METRIC<=FACTORx or shadow_agreement>=FRACTION');
  const metric = m[1]!.toLowerCase();
  if (!(metric in SHADOW_GATE_METRICS))
    return err(`unknown metric "${metric}" (known: ${Object.keys(SHADOW_GATE_METRICS).join(', ')})`);
  const def = SHADOW_GATE_METRICS[metric as ShadowGateMetric];
  const op = m[2] as '<=' | '>=';
  if (op !== def.op) err(`${metric} takes ${def.op}`);
  const n = Number(m[3]);
  if (m[4]) {
    if (!def.relative) err(`${metric} is a fraction, not relative (no "x")`);
    if (!(n > 0)) err('the factor must be > 0');
    return { metric: metric as ShadowGateMetric, op, factor: n, expr: expr.trim() };
  }
  if (metric === 'shadow_agreement' && n > 1) err('agreement is a fraction 0-1');
  return { metric: metric as ShadowGateMetric, op, value: n, expr: expr.trim() };
}

/** "anomaly_rate<=2x" (relative to the rest of the fleet) or "p95_inference_ms<=25" (absolute). */
export function parseGate(expr: string): Gate {
  if (typeof expr !== 'string')
    throw new EdgeloopError(
      'EL_ERR_ROLLOUT_GATE',
      `gate: expected a string like "anomaly_rate<=2x", got ${JSON.stringify(expr)}`,
    );
  const m = /^\s*([a-z0-9_]+)\s*<=\s*(\d+(?:\.\d+)?(?:e-?\d+)?)\s*(x?)\s*$/i.exec(expr);
  if (!m)
    throw new EdgeloopError(
      'EL_ERR_ROLLOUT_GATE',
      `gate ${JSON.stringify(expr)}: expected METRIC<=FACTORx (relative to the rest of the fleet) or METRIC<=VALUE (absolute)`,
    );
  const metric = m[1]!.toLowerCase();
  if (!(metric in GATE_METRICS)) {
    throw new EdgeloopError(
      'EL_ERR_ROLLOUT_GATE',
      `gate ${JSON.stringify(expr)}: unknown metric "${metric}" (known: ${Object.keys(GATE_METRICS).join(', ')})`,
    );
  }
  const n = Number(m[2]);
  if (m[3]) {
    if (!(n > 0))
      throw new EdgeloopError('EL_ERR_ROLLOUT_GATE', `gate ${JSON.stringify(expr)}: the factor must be > 0`);
    return { metric: metric as GateMetric, factor: n, expr: expr.trim() };
  }
  return { metric: metric as GateMetric, value: n, expr: expr.trim() };
}

export function parseStages(v: Array<number | string> | string): number[] {
  const parts = typeof v === 'string' ? v.split(',') : v;
  const stages = parts.map((p) => parsePercent(typeof p === 'string' ? p.trim() : p, 'stages'));
  if (stages.length === 0) bad('stages: at least one stage is required, like 1%,10%,50%,100%');
  stages.forEach((s, i) => {
    if (s <= 0) bad(`stages: stage ${i + 1} is ${s}%, stages must be > 0%`);
    if (i > 0 && s <= stages[i - 1]!)
      bad(`stages: percentages must increase (stage ${i + 1} is ${s}% after ${stages[i - 1]}%)`);
  });
  return stages;
}

function parseShadowSpec(input: boolean | ShadowSpecInput | undefined, gates: string[]): ShadowSpec | undefined {
  if ((input === undefined || input === false) && gates.length === 0) return undefined;
  if (input === false) bad('shadow: shadow_* gates were given with shadow: false');
  const i: ShadowSpecInput = input === true || input === undefined ? {} : input;
  if (typeof i !== 'object' || i === null || Array.isArray(i)) bad('shadow: expected true or an object');
  const o = parseFields(
    ShadowSpecSchema,
    { ...i, percent: i.percent ?? i.stage, bakeMs: i.bakeMs ?? i.bake },
    'shadow',
    ['shadow'],
  );
  const percent = parsePercent(o.percent, 'shadow.percent');
  if (percent <= 0) bad('shadow.percent: must be > 0%');
  const bakeMs = parseDuration(o.bakeMs, 'shadow.bake');
  const exprs = [...(o.gates ?? []).map((g) => (typeof g === 'string' ? g : g.expr)), ...gates];
  const list = (exprs.length ? exprs : [...DEFAULT_SHADOW_GATES]).map(parseShadowGate);
  return { percent, bakeMs, gates: list, minWindows: o.minWindows, minDevices: o.minDevices };
}

export function parseRolloutSpec(input: RolloutSpecInput): RolloutSpec {
  if (!input || typeof input !== 'object') bad('rollout spec: expected an object');
  // an alias counts when its field is not given; the schema's default when neither is
  const o = parseFields(
    RolloutSpecSchema,
    {
      ...input,
      bakeMs: input.bakeMs ?? input.bake,
      maxFailurePct: input.maxFailurePct ?? input.maxFailures,
      ratePerMin: input.ratePerMin ?? input.rate,
      freshMs: input.freshMs ?? input.fresh,
    },
    'rollout spec',
  );
  const stages = parseStages(o.stages);
  const bakeMs = parseDuration(o.bakeMs, 'bake');
  const maxFailurePct = parsePercent(o.maxFailurePct, 'maxFailures');
  const ratePerMin = o.ratePerMin === undefined ? undefined : parseRate(o.ratePerMin, 'rate');
  const deviceTimeoutMs = parseDuration(o.deviceTimeoutMs, 'deviceTimeout');
  if (deviceTimeoutMs <= 0) bad('deviceTimeout: must be > 0');
  const freshMs = parseDuration(o.freshMs, 'fresh');
  if (freshMs <= 0) bad('fresh: must be > 0');
  const gateExprs = o.gates.map((g) => (typeof g === 'string' ? g : g?.expr));
  const gates = gateExprs.filter((g) => !isShadowGate(g)).map((g) => parseGate(g as string));
  const shadow = parseShadowSpec(o.shadow, gateExprs.filter((g) => isShadowGate(g)) as string[]);
  const approve = o.approve;
  if (approve === 'manual' && !shadow) bad('approve: "manual" waits after the shadow stage; give shadow too');
  let devices: string[] | undefined;
  if (o.devices !== undefined) {
    for (const d of o.devices) if (!isValidId(d)) bad(`devices: ${JSON.stringify(d)} is not a device id`);
    devices = [...new Set(o.devices)];
  }
  return {
    model: o.model,
    version: o.version,
    stages,
    bakeMs,
    maxFailurePct,
    gates,
    ratePerMin,
    deviceTimeoutMs,
    retries: o.retries,
    devices,
    group: o.group,
    minWindows: o.minWindows,
    freshMs,
    ...(shadow ? { shadow, approve } : {}),
    ...(o.parent !== undefined ? { parent: o.parent } : {}),
  };
}
