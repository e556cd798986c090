/**
 * Agent mode: real edge agents (agent/create-agent.ts) with their own SQLite outbox, ONNX inference and MQTT
 * transport, one per virtual device, all in this process. The simulator samples each device's signal (with its
 * injected faults) and hands the readings to `agent.ingest()`; the agent assigns seqs, runs its model, publishes
 * telemetry and anomaly events. Each agent gets a temporary directory (removed on close unless keepData).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { FleetDriver, FleetFactoryContext, FleetSnapshot } from '../fleet-driver.ts';
import type { VirtualDevice } from '../virtual-device.ts';
import { packagePath } from '../../lib/package-root.ts';

interface AgentLike {
  readonly deviceId: string;
  start(): Promise<void>;
  close(drainTimeoutMs?: number): Promise<void>;
  ingest(
    readings: Array<{ sensor: string; ts: number; value: number }>,
  ): Promise<{ firstSeq: number; lastSeq: number }>;
  outboxStats(): { telemetry: number; events: number; lastSeq: number } | undefined;
  readonly transport: { readonly connected: boolean } | undefined;
  readonly publisher: { readonly stats: { messages: number; telemetryRecords: number } } | undefined;
  readonly counters: { accepted: number; refused: number };
}

export interface AgentFleetOptions extends FleetFactoryContext {
  /** a model directory every agent loads at start (e.g. models/default/anomaly); none = no inference */
  modelsDir?: string | undefined;
  /** PEM public key the model's manifest is signed with (default: models/default/keys/edgeloop-default.pub when present) */
  trustedKeyFile?: string | undefined;
  /** further trusted keys: PEM files or directories of `*.pub` files (agent config models.trustedKeys) */
  trustedKeys?: string[] | undefined;
  /** agents take model updates over MQTT (the rollout controller's manifests; default false) */
  modelUpdates?: boolean | undefined;
  /** parent of the agents' data directories (default: a new temp dir) */
  dataDir?: string | undefined;
  keepData?: boolean;
  /** retained status period, ms (default 5000) */
  statusIntervalMs?: number;
  /** agents started at once (default 25) */
  startConcurrency?: number;
  onError?: (deviceId: string, err: Error) => void;
}

const TICK_MS = 20;

export async function createAgentFleet(ctx: AgentFleetOptions): Promise<FleetDriver> {
  let createAgent: (o: { config: unknown }) => AgentLike;
  try {
    ({ createAgent } = (await import('../../agent/create-agent.ts')) as unknown as {
      createAgent: (o: { config: unknown }) => AgentLike;
    });
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_SIM_MODE_UNAVAILABLE',
      `agent mode needs agent/create-agent.ts: ${(cause as Error).message}`,
      { cause },
    );
  }
  const shipped = packagePath('models', 'default', 'keys', 'edgeloop-default.pub');
  return new AgentFleet(
    { ...ctx, trustedKeyFile: ctx.trustedKeyFile ?? (existsSync(shipped) ? shipped : undefined) },
    createAgent,
  );
}

export class AgentFleet implements FleetDriver {
  readonly #ctx: AgentFleetOptions;
  readonly #agents: AgentLike[] = [];
  readonly #devices: readonly VirtualDevice[];
  readonly #nextDue: Float64Array;
  readonly #periodMs: number;
  readonly #root: string;
  readonly #ownRoot: boolean;
  #timer: NodeJS.Timeout | undefined;
  #paused = false;
  #closed = false;
  #readingsHanded = 0;
  #ingestErrors = 0;
  readonly #pending = new Set<Promise<unknown>>();

  constructor(ctx: AgentFleetOptions, createAgent: (o: { config: unknown }) => AgentLike) {
    this.#ctx = ctx;
    this.#devices = ctx.devices;
    const o = ctx.options;
    this.#periodMs = 1000 / o.messageRate;
    this.#nextDue = new Float64Array(this.#devices.length);
    this.#ownRoot = !ctx.dataDir;
    if (ctx.dataDir) mkdirSync(ctx.dataDir, { recursive: true });
    this.#root = ctx.dataDir ?? mkdtempSync(join(o.dataDir ?? tmpdir(), 'edgeloop-agents-'));
    const keys = [...(ctx.trustedKeyFile ? [ctx.trustedKeyFile] : []), ...(ctx.trustedKeys ?? [])];
    this.#devices.forEach((d, i) => {
      const ep = ctx.endpointFor(i);
      const cred = ctx.credentials?.(d.id);
      const config = {
        deviceId: d.id,
        topicPrefix: ctx.topics.prefix,
        dataDir: join(this.#root, d.id),
        transport: {
          kind: 'mqtt',
          url: `mqtt://${ep.host}:${ep.port}`,
          ...(cred?.username !== undefined ? { username: cred.username } : {}),
          ...(cred?.password !== undefined ? { password: cred.password } : {}),
          reconnect: { minMs: o.reconnect.minMs, maxMs: o.reconnect.maxMs },
        },
        // the shipped model is loaded from where it is (models.initial), verified against the shipped public key;
        // each agent keeps its own model store under its data directory
        models: ctx.modelsDir
          ? {
              initial: [ctx.modelsDir],
              updates: ctx.modelUpdates === true && keys.length > 0,
              ...(keys.length ? { trustedKeys: keys } : {}),
            }
          : { updates: false },
        inference: { enabled: Boolean(ctx.modelsDir) },
        status: { intervalMs: ctx.statusIntervalMs ?? 5000 },
        outbox: { batchLingerMs: 20 },
        shutdown: { drainTimeoutMs: 2000 },
        logLevel: 'silent',
      };
      this.#agents.push(createAgent({ config }));
    });
  }

  get agents(): readonly AgentLike[] {
    return this.#agents;
  }
  get dataDir(): string {
    return this.#root;
  }

  async start(): Promise<void> {
    const conc = this.#ctx.startConcurrency ?? 25;
    for (let i = 0; i < this.#agents.length; i += conc) {
      await Promise.all(this.#agents.slice(i, i + conc).map((a) => a.start()));
      if (this.#closed) return;
    }
    const t0 = Date.now();
    const n = this.#devices.length;
    for (let i = 0; i < n; i++) this.#nextDue[i] = t0 + (this.#periodMs * i) / n;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    // the fleet counts as started when every transport is up (agents connect in the background)
    const deadline = Date.now() + 30_000;
    while (!this.#closed && this.#agents.some((a) => !a.transport?.connected) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
  }

  #tick(): void {
    if (this.#paused || this.#closed) return;
    const now = Date.now();
    const o = this.#ctx.options;
    const samples = o.samplesPerMessage;
    const step = this.#periodMs / samples;
    const times = new Array<number>(samples);
    for (let i = 0; i < this.#devices.length; i++) {
      const due = this.#nextDue[i]!;
      if (due > now) continue;
      this.#nextDue[i] = due + this.#periodMs < now - this.#periodMs ? now : due + this.#periodMs;
      for (let s = 0; s < samples; s++) times[s] = Math.round(now - (samples - 1 - s) * step);
      const readings = this.#devices[i]!.sample(times).map((r) => ({ sensor: r.sensor, ts: r.ts, value: r.value }));
      if (readings.length === 0) continue;
      const agent = this.#agents[i]!;
      this.#readingsHanded += readings.length;
      const p = agent.ingest(readings).catch((err: Error) => {
        this.#ingestErrors++;
        this.#ctx.onError?.(agent.deviceId, err);
      });
      this.#pending.add(p);
      void p.finally(() => this.#pending.delete(p));
    }
  }

  snapshot(): FleetSnapshot {
    let connected = 0;
    let backlog = 0;
    let published = 0;
    let readings = 0;
    let refused = 0;
    for (const a of this.#agents) {
      if (a.transport?.connected) connected++;
      const s = a.outboxStats();
      if (s) backlog += s.telemetry + s.events;
      published += a.publisher?.stats.messages ?? 0;
      readings += a.counters.accepted;
      refused += a.counters.refused;
    }
    return {
      devices: this.#agents.length,
      connections: this.#agents.length,
      connectedDevices: connected,
      messagesPublished: published,
      messagesAcked: published,
      readingsPublished: readings,
      backlog,
      droppedAtDevice: refused,
      connects: connected,
      connectFailures: 0,
    };
  }

  expected(): Map<string, number> {
    return new Map(this.#agents.map((a) => [a.deviceId, a.outboxStats()?.lastSeq ?? 0]));
  }

  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    this.#paused = false;
  }
  async quiesce(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }
  dropAll(): void {
    throw new EdgeloopError(
      'EL_ERR_SIM_FAULT',
      'connect-storm is not supported in agent mode (agents own their connections); use light mode',
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.allSettled([...this.#pending]);
    await Promise.allSettled(this.#agents.map((a) => a.close(1000)));
    if (this.#ownRoot && !this.#ctx.keepData) rmSync(this.#root, { recursive: true, force: true });
  }
}
