/**
 * Options of a simulation run (`runSimulation(options)`, `edgeloop sim`): one schema with the defaults, checked with
 * lib/options.ts (an unknown key is refused with a suggestion, a bad value names the field), then the rules between
 * options (faults within the run, one source of data). Units: seconds for schedule times and durations (Sec),
 * messages per second for rates.
 */
import { z } from 'zod';
import { EdgeloopError } from '../protocol/errors.ts';
import { optionRuleError, parseOptions } from '../lib/options.ts';
import { DEFAULT_TOPIC_PREFIX } from '../protocol/topics.ts';
import { DATA_FAULT_KINDS } from './faults/data-faults.ts';
import { DegradationOptionsSchema } from './scenarios/degradation.ts';

const at = z.number().min(0);
const dur = z.number().positive();

export const DataFaultSchema = z.strictObject({
  kind: z.enum(DATA_FAULT_KINDS),
  /** seconds after the start of publishing */
  atSec: at,
  durationSec: dur.optional(),
  /** device id or index; default: picked by the seeded PRNG */
  device: z.union([z.string(), z.number().int().min(0)]).optional(),
  /** sensor name ('*' = all); default: picked */
  sensor: z.string().optional(),
  /** size in standard deviations (spike, drift) */
  magnitude: z.number().optional(),
});

export const INFRA_FAULT_KINDS = [
  'broker-restart',
  'partition',
  'slow-consumer',
  'connect-storm',
  'agent-kill',
] as const;
export type InfraFaultKind = (typeof INFRA_FAULT_KINDS)[number];

export const InfraFaultSchema = z.strictObject({
  kind: z.enum(INFRA_FAULT_KINDS),
  atSec: at,
  /** outage length: broker down, partition held, consumer stalled, agents down (default 3 s) */
  durationSec: dur.default(3),
  /** share of the devices affected (partition, agent-kill), 0..1 (default 0.2) */
  share: z.number().gt(0).max(1).default(0.2),
  /** partition style: block (reset + refuse), blackhole (connections stay, bytes stop), drop (reset once) */
  style: z.enum(['block', 'blackhole', 'drop']).default('block'),
  /** connect-storm: connection-rate limit in front of the broker while the fleet reconnects, connects/s */
  maxConnectsPerSec: z.number().positive().default(200),
});

export const FaultSpecSchema = z.union([DataFaultSchema, InfraFaultSchema]);

export const SensorSpecSchema = z.strictObject({
  name: z.string().min(1).max(128),
  base: z.number().default(0),
  noise: z.number().min(0).default(0.1),
  amplitude: z.number().default(0),
  periodSec: z.number().positive().default(3600),
  driftPerHour: z.number().default(0),
  loadGain: z.number().default(0),
  min: z.number().optional(),
  max: z.number().optional(),
  decimals: z.number().int().min(0).max(10).default(3),
});

export const SimulationOptionsSchema = z.strictObject({
  mode: z.enum(['light', 'agent']).default('light'),
  devices: z.number().int().min(1).max(1_000_000).default(100),
  durationSec: z.number().positive().default(30),
  /** messages per second per device */
  messageRate: z.number().positive().max(1000).default(1),
  /** samples per sensor per message (batching) */
  samplesPerMessage: z.number().int().min(1).max(1000).default(1),
  /** TCP connections for light mode (default: one per device) */
  connections: z.number().int().min(1).optional(),
  /** reconnect backoff of light-mode devices (full jitter between 0 and min(maxMs, minMs * 2^attempt)), ms */
  reconnect: z
    .strictObject({ minMs: z.number().int().min(1).default(200), maxMs: z.number().int().min(1).default(10_000) })
    .prefault({}),
  /** initial connects per second */
  connectRatePerSec: z.number().positive().default(2000),
  seed: z.union([z.number().int(), z.string()]).default(1),
  deviceIdPrefix: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$/)
    .default('sim-'),
  sensors: z.array(SensorSpecSchema).min(1).optional(),
  /** broker URL (mqtt://host:port); default: an embedded aedes broker on loopback */
  url: z
    .string()
    .regex(/^mqtts?:\/\/[^/]+$/, 'expected mqtt://host:port')
    .optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  topicPrefix: z.string().min(1).default(DEFAULT_TOPIC_PREFIX),
  faults: z.array(FaultSpecSchema).default([]),
  randomFaults: z
    .strictObject({
      /** faults over the whole run */
      count: z.number().int().min(0),
      kinds: z
        .array(z.enum(DATA_FAULT_KINDS))
        .min(1)
        .default(['spike', 'drift', 'stuck', 'tool-wear', 'heat-dissipation', 'power', 'overstrain']),
      durationSec: dur.optional(),
    })
    .optional(),
  replay: z
    .strictObject({
      path: z.string().min(1),
      format: z.enum(['skab', 'nab', 'ai4i']).optional(),
      nabLabels: z.string().optional(),
    })
    .optional(),
  /** devices wear to failure like C-MAPSS engines (simulator/scenarios/degradation.ts); one message = one cycle */
  scenario: z.enum(['degradation']).optional(),
  /** options of the degradation scenario (lives, initial wear, steepness) */
  degradation: DegradationOptionsSchema.optional(),
  /** replay a C-MAPSS file: one engine = one device (devices = engines), one cycle = one sample (settings + 21 sensors) */
  replayCmapss: z.strictObject({ path: z.string().min(1), rul: z.string().min(1).optional() }).optional(),
  /** maintenance API (http://host:port) of the cloud the fleet sends to: the scenario report scores what it serves */
  maintenanceUrl: z
    .string()
    .regex(/^https?:\/\/[^/]+\/?$/, 'expected http://host:port')
    .optional(),
  /** after the run (and after each fault), wait at most this long for delivery to complete */
  drainTimeoutSec: z.number().positive().default(30),
  /** subscribe as a privileged client to measure delivery and latency (default true) */
  observe: z.boolean().default(true),
  /** an anomaly event counts for a fault up to this long after the fault ends, ms */
  detectionToleranceMs: z.number().min(0).default(5000),
  /** agent mode: a temp directory per agent is made under this directory (default os.tmpdir()) */
  dataDir: z.string().optional(),
  /** agent mode: run agents in child processes (needed for agent-kill), agents per child */
  agentsPerProcess: z.number().int().min(1).optional(),
});

export type SimulationOptions = z.input<typeof SimulationOptionsSchema>;
export type ResolvedSimulationOptions = z.output<typeof SimulationOptionsSchema>;
export type FaultSpec = z.output<typeof FaultSpecSchema>;
export type InfraFaultSpec = z.output<typeof InfraFaultSchema>;
export type DataFaultSpec = z.output<typeof DataFaultSchema>;

const W = 'simulation options';
const CODE = 'EL_ERR_SIM_OPTIONS';

/** Check the options with the schema (lib/options.ts), then the rules between them; every error is EL_ERR_SIM_OPTIONS. */
export function resolveSimulationOptions(o: unknown): ResolvedSimulationOptions {
  const v = parseOptions(SimulationOptionsSchema, o ?? {}, { where: W, code: CODE });
  const rule = (option: string, what: string) => optionRuleError(W, option, what, CODE);
  for (const [i, f] of v.faults.entries()) {
    if (f.atSec >= v.durationSec)
      throw rule(
        `faults.${i}.atSec`,
        `fault ${f.kind} at ${f.atSec}s starts after the run ends (durationSec=${v.durationSec})`,
      );
    if (f.kind === 'agent-kill' && v.mode !== 'agent')
      throw rule(`faults.${i}.kind`, 'fault agent-kill needs mode "agent"');
  }
  const sources = [v.replay && 'replay', v.replayCmapss && 'replayCmapss', v.scenario && 'scenario'].filter(Boolean);
  if (sources.length > 1)
    throw rule(String(sources[1]), `${sources.join(' and ')} cannot be combined: pick one source of data`);
  if (v.degradation && v.scenario !== 'degradation')
    throw rule('degradation', 'degradation options need scenario "degradation"');
  if (v.degradation && v.degradation.maxLifeCycles < v.degradation.minLifeCycles)
    throw rule(
      'degradation.maxLifeCycles',
      `degradation.maxLifeCycles (${v.degradation.maxLifeCycles}) is below minLifeCycles (${v.degradation.minLifeCycles})`,
    );
  if ((v.scenario || v.replayCmapss) && v.mode !== 'light')
    throw rule('mode', 'the degradation scenario and the C-MAPSS replay run in light mode');
  if (v.connections !== undefined && v.connections > v.devices)
    throw rule('connections', `connections (${v.connections}) cannot exceed devices (${v.devices})`);
  return v;
}

export function isInfraFault(f: FaultSpec): f is InfraFaultSpec {
  return (INFRA_FAULT_KINDS as readonly string[]).includes(f.kind);
}

/**
 * Parse the CLI form of a fault: `kind@AT[:DURATION][,key=value...]`, times in seconds with an optional unit
 * (`500ms`, `10s`, `2m`), e.g. `broker-restart@10s:3s`, `partition@5:5,share=0.3,style=blackhole`,
 * `spike@12s,device=sim-0003,sensor=torque,magnitude=12`.
 */
export function parseFaultArg(s: string): Record<string, unknown> {
  const m = /^([a-z-]+)@([^:,]+)(?::([^,]+))?(?:,(.*))?$/.exec(s.trim());
  if (!m)
    throw new EdgeloopError(
      'EL_ERR_SIM_OPTIONS',
      `--fault "${s}": expected kind@AT[:DURATION][,key=value...], e.g. broker-restart@10s:3s`,
    );
  const out: Record<string, unknown> = { kind: m[1], atSec: parseSeconds(m[2]!, s) };
  if (m[3]) out.durationSec = parseSeconds(m[3], s);
  for (const kv of (m[4] ?? '').split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    if (!k || v === undefined)
      throw new EdgeloopError('EL_ERR_SIM_OPTIONS', `--fault "${s}": "${kv}" is not key=value`);
    const num = Number(v);
    out[k] = v !== '' && Number.isFinite(num) && k !== 'device' && k !== 'sensor' ? num : v;
  }
  return out;
}

export function parseSeconds(v: string, ctx: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new EdgeloopError('EL_ERR_SIM_OPTIONS', `"${ctx}": "${v}" is not a duration (e.g. 10, 10s, 500ms, 2m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return unit === 'ms' ? n / 1000 : unit === 'm' ? n * 60 : unit === 'h' ? n * 3600 : n;
}
