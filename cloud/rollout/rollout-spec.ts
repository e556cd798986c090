/**
 * Rollout specification: parsing and validation of stages, bake time, failure budget, gates, rate and cohort.
 * Shared by the CLI (flags), the controller's HTTP API (JSON) and the state machine. Pure.
 */
import { EdgeloopError } from '../../protocol/errors.ts';
import { checkKnownOptions } from '../../lib/options.ts';
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

export type ShadowSpecInput = {
  percent?: number | string;
  stage?: number | string;
  bakeMs?: number | string;
  bake?: string;
  gates?: Array<string | ShadowGate>;
  minWindows?: number;
  minDevices?: number;
};

export type RolloutSpecInput = Partial<
  Omit<
    RolloutSpec,
    'stages' | 'gates' | 'bakeMs' | 'deviceTimeoutMs' | 'maxFailurePct' | 'ratePerMin' | 'freshMs' | 'shadow'
  >
> & {
  /** true: a shadow stage with the defaults; an object: its settings */
  shadow?: boolean | ShadowSpecInput;
  model: string;
  version: string;
  stages?: Array<number | string> | string;
  /** canary gates; shadow_* gates go to the shadow stage (and turn it on) */
  gates?: Array<string | Gate | ShadowGate>;
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

/** Refuse a field the spec does not define (lib/options.ts: the same message and hint as every component's). */
function knownFields(where: string, o: object, known: ReadonlySet<string>): void {
  checkKnownOptions(where, o, known, 'EL_ERR_ROLLOUT_SPEC', true, 'field');
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
  'shadow',
  'approve',
  'parent',
]);
const SHADOW_KNOWN = new Set(['percent', 'stage', 'bakeMs', 'bake', 'gates', 'minWindows', 'minDevices']);

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

export const SHADOW_DEFAULTS = {
  percent: 10,
  bakeMs: 10 * 60_000,
  gates: ['shadow_agreement>=0.9', 'shadow_anomaly_rate<=1.5x'],
  minWindows: 100,
  minDevices: 1,
} as const;

function parseShadowSpec(input: boolean | ShadowSpecInput | undefined, gates: string[]): ShadowSpec | undefined {
  if ((input === undefined || input === false) && gates.length === 0) return undefined;
  if (input === false) bad('shadow: shadow_* gates were given with shadow: false');
  const o: ShadowSpecInput = input === true || input === undefined ? {} : input;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) bad('shadow: expected true or an object');
  knownFields('shadow', o, SHADOW_KNOWN);
  const percent = parsePercent(o.percent ?? o.stage ?? SHADOW_DEFAULTS.percent, 'shadow.percent');
  if (percent <= 0) bad('shadow.percent: must be > 0%');
  const bakeMs = parseDuration(o.bakeMs ?? o.bake ?? SHADOW_DEFAULTS.bakeMs, 'shadow.bake');
  const minWindows = o.minWindows ?? SHADOW_DEFAULTS.minWindows;
  if (!Number.isInteger(minWindows) || minWindows < 1)
    bad(`shadow.minWindows: expected a positive integer, got ${minWindows}`);
  const minDevices = o.minDevices ?? SHADOW_DEFAULTS.minDevices;
  if (!Number.isInteger(minDevices) || minDevices < 1)
    bad(`shadow.minDevices: expected a positive integer, got ${minDevices}`);
  const exprs = [...(o.gates ?? []).map((g) => (typeof g === 'string' ? g : g.expr)), ...gates];
  const list = (exprs.length ? exprs : [...SHADOW_DEFAULTS.gates]).map(parseShadowGate);
  return { percent, bakeMs, gates: list, minWindows, minDevices };
}

export function parseRolloutSpec(input: RolloutSpecInput): RolloutSpec {
  if (!input || typeof input !== 'object') bad('rollout spec: expected an object');
  knownFields('rollout spec', input, KNOWN);
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
  const gateExprs = (input.gates ?? []).map((g) => (typeof g === 'string' ? g : g?.expr));
  const gates = gateExprs.filter((g) => !isShadowGate(g)).map((g) => parseGate(g as string));
  const shadow = parseShadowSpec(input.shadow, gateExprs.filter((g) => isShadowGate(g)) as string[]);
  const approve = input.approve ?? 'auto';
  if (approve !== 'auto' && approve !== 'manual')
    bad(`approve: expected "auto" or "manual", got ${JSON.stringify(approve)}`);
  if (approve === 'manual' && !shadow) bad('approve: "manual" waits after the shadow stage; give shadow too');
  if (input.parent !== undefined && (typeof input.parent !== 'string' || input.parent.length === 0))
    bad('parent: expected a version string');
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
    ...(shadow ? { shadow, approve } : {}),
    ...(input.parent !== undefined ? { parent: input.parent } : {}),
  };
}
