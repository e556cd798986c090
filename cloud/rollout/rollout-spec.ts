/**
 * Rollout specification: parsing and validation of stages, bake time, failure budget, gates, rate and cohort.
 * Shared by the CLI (flags), the controller's HTTP API (JSON) and the state machine. Pure.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { isValidId } from '../../protocol/topics.ts';

export const GATE_METRICS = {
  anomaly_rate: { field: 'anomalyRate', floor: 0.001, unit: 'fraction of windows' },
  p50_inference_ms: { field: 'p50Ms', floor: 0.05, unit: 'ms' },
  p95_inference_ms: { field: 'p95Ms', floor: 0.05, unit: 'ms' },
  p99_inference_ms: { field: 'p99Ms', floor: 0.05, unit: 'ms' },
} as const;
export type GateMetric = keyof typeof GATE_METRICS;

export interface Gate {
  metric: GateMetric;
  /** compare with the rest of the fleet: cohort <= factor x baseline */
  factor?: number;
  /** compare with an absolute value: cohort <= value */
  value?: number;
  /** the expression as written */
  expr: string;
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
}

export type RolloutSpecInput = Partial<
  Omit<RolloutSpec, 'stages' | 'gates' | 'bakeMs' | 'deviceTimeoutMs' | 'maxFailurePct' | 'ratePerMin' | 'freshMs'>
> & {
  model: string;
  version: string;
  stages?: Array<number | string> | string;
  gates?: Array<string | Gate>;
  bakeMs?: number | string;
  bake?: string;
  maxFailurePct?: number | string;
  maxFailures?: string;
  ratePerMin?: number | string;
  rate?: string;
  deviceTimeoutMs?: number | string;
  freshMs?: number | string;
  fresh?: string;
};

function bad(msg: string): never {
  throw new EdgeloopError('EL_ERR_ROLLOUT_SPEC', msg);
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

const KNOWN = new Set([
  'model',
  'version',
  'stages',
  'gates',
  'bakeMs',
  'bake',
  'maxFailurePct',
  'maxFailures',
  'ratePerMin',
  'rate',
  'deviceTimeoutMs',
  'retries',
  'devices',
  'group',
  'minWindows',
  'freshMs',
  'fresh',
]);

export const SPEC_DEFAULTS = {
  stages: [1, 10, 50, 100],
  bakeMs: 10 * 60_000,
  maxFailurePct: 5,
  deviceTimeoutMs: 10 * 60_000,
  retries: 2,
  minWindows: 1,
  /** four status intervals of the agent's default (30 s) */
  freshMs: 2 * 60_000,
} as const;

export function parseRolloutSpec(input: RolloutSpecInput): RolloutSpec {
  if (!input || typeof input !== 'object') bad('rollout spec: expected an object');
  for (const k of Object.keys(input))
    if (!KNOWN.has(k)) bad(`rollout spec: unknown field "${k}" (known: ${[...KNOWN].join(', ')})`);
  if (typeof input.model !== 'string' || !isValidId(input.model))
    bad(`model: ${JSON.stringify(input.model)} is not a model name`);
  if (typeof input.version !== 'string' || input.version.length === 0) bad('version: required (MODEL@VERSION)');
  const stages = parseStages(input.stages ?? [...SPEC_DEFAULTS.stages]);
  const bakeMs = parseDuration(input.bakeMs ?? input.bake ?? SPEC_DEFAULTS.bakeMs, 'bake');
  const maxFailurePct = parsePercent(
    input.maxFailurePct ?? input.maxFailures ?? SPEC_DEFAULTS.maxFailurePct,
    'maxFailures',
  );
  const rateIn = input.ratePerMin ?? input.rate;
  const ratePerMin = rateIn === undefined ? undefined : parseRate(rateIn, 'rate');
  const deviceTimeoutMs = parseDuration(input.deviceTimeoutMs ?? SPEC_DEFAULTS.deviceTimeoutMs, 'deviceTimeout');
  if (deviceTimeoutMs <= 0) bad('deviceTimeout: must be > 0');
  const retries = input.retries ?? SPEC_DEFAULTS.retries;
  if (!Number.isInteger(retries) || retries < 0 || retries > 100)
    bad(`retries: expected an integer 0-100, got ${retries}`);
  const minWindows = input.minWindows ?? SPEC_DEFAULTS.minWindows;
  if (!Number.isInteger(minWindows) || minWindows < 0)
    bad(`minWindows: expected a non-negative integer, got ${minWindows}`);
  const freshMs = parseDuration(input.freshMs ?? input.fresh ?? SPEC_DEFAULTS.freshMs, 'fresh');
  if (freshMs <= 0) bad('fresh: must be > 0');
  const gates = (input.gates ?? []).map((g) => (typeof g === 'string' ? parseGate(g) : parseGate(g.expr)));
  let devices: string[] | undefined;
  if (input.devices !== undefined) {
    if (!Array.isArray(input.devices) || input.devices.length === 0)
      bad('devices: expected a non-empty list of device ids');
    for (const d of input.devices)
      if (typeof d !== 'string' || !isValidId(d)) bad(`devices: ${JSON.stringify(d)} is not a device id`);
    devices = [...new Set(input.devices)];
  }
  return {
    model: input.model,
    version: input.version,
    stages,
    bakeMs,
    maxFailurePct,
    gates,
    ratePerMin,
    deviceTimeoutMs,
    retries,
    devices,
    group: input.group,
    minWindows,
    freshMs,
  };
}
