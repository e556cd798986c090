/**
 * The agent's wiring file: sources → SqliteOutbox → (InferenceEngine → events lane) → OutboxPublisher → Transport,
 * plus the status reporter, the optional health endpoint and the model updater. It owns start and shutdown order.
 *
 * start():  outbox → inference (models from models.dir) → transport (connects in the background: a device that
 *           boots offline still accepts readings) → publisher, status, pruning → model updater → sources → health
 * close():  stop intake (sources, then ingest() refuses) → commit the intake buffer → finish inference → drain the
 *           outbox for up to shutdown.drainTimeoutMs → clean offline status → publisher → transport → inference
 *           → outbox (database closed last) → health endpoint. What is not drained stays in the outbox for the
 *           next start.
 *
 * Many agents in one process (the simulator's agent mode): createAgent() is synchronous and opens nothing; inject a
 * transport, leave sources and health unset, and feed readings with `agent.ingest()`.
 */
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { KeyObject } from 'node:crypto';
import { EdgeloopError } from '../protocol/errors.ts';
import { Topics } from '../protocol/topics.ts';
import type { StatusMessage } from '../protocol/messages.ts';
import { systemClock, type Clock, type TimerHandle } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { formatIssues } from '../protocol/zod-issues.ts';
import { MANIFEST_FILE, TrustedKeyRing, verifyModelDir } from '../models/manifest/index.ts';
import type { ModelRunner } from '../models/runtime/model-runner.ts';
import type { Manifest } from '../protocol/manifest.ts';
import { AgentConfigSchema, type AgentConfig, type AgentConfigInput } from './config.ts';
import { SqliteOutbox, type OutboxReading, type OutboxStats, type SeqRange } from './outbox/sqlite-outbox.ts';
import { OutboxPublisher } from './publisher/outbox-publisher.ts';
import { InferenceEngine } from './inference/inference-engine.ts';
import { StatusReporter, offlineStatus } from './status/status-reporter.ts';
import type { HealthServer, HealthSnapshot } from './status/health-server.ts';
import type { ReadingSink, ReadingSource } from './sources/source.ts';
import type { RejectedLine } from './sources/reading-parser.ts';
import type { Transport } from '../transport/transport.ts';
import { createTransport } from '../transport/create-transport.ts';
import { ModelUpdater } from './model-updater/model-updater.ts';
import { PACKAGE_VERSION } from '../lib/package-root.ts';

export const AGENT_VERSION: string = PACKAGE_VERSION;

export interface CreateAgentOptions {
  /** validated config, or raw input validated here */
  config: AgentConfig | AgentConfigInput;
  /** an already constructed transport (agent mode, tests); the agent then neither starts nor closes it */
  transport?: Transport;
  logger?: Logger;
  clock?: Clock;
  /** stream for sources.stdin (default process.stdin) */
  stdin?: Readable;
  /** called when a finite source (stdin, csv without loop, simulated ticks) has ended */
  onSourceEnd?: (source: string) => void;
  /** ONNX runner factory (share sessions between agents); default: one OrtModelRunner per model */
  createRunner?: (modelBytes: Uint8Array, manifest: Manifest) => Promise<ModelRunner>;
}

export interface AgentCounters {
  accepted: number;
  rejected: number;
  refused: number;
}

export class Agent implements ReadingSink {
  readonly config: AgentConfig;
  readonly deviceId: string;
  readonly topics: Topics;
  readonly #opts: CreateAgentOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #outbox: SqliteOutbox | undefined;
  #inference: InferenceEngine | undefined;
  #transport: Transport | undefined;
  #ownsTransport = false;
  #publisher: OutboxPublisher | undefined;
  #status: StatusReporter | undefined;
  #health: HealthServer | undefined;
  #sources: ReadingSource[] = [];
  #updater: ModelUpdater | undefined;
  #pruneTimer: TimerHandle | undefined;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'closed' = 'new';
  #closePromise: Promise<void> | undefined;
  #counters: AgentCounters = { accepted: 0, rejected: 0, refused: 0 };
  #lastError: string | undefined;
  #ingesting = new Set<Promise<unknown>>();
  #offTransport: (() => void) | undefined;

  constructor(opts: CreateAgentOptions) {
    const parsed = AgentConfigSchema.safeParse(opts.config);
    if (!parsed.success) {
      const issues = formatIssues(parsed.error.issues);
      throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `agent config: ${issues.join('; ')}`, { details: { issues } });
    }
    this.config = Object.freeze(parsed.data);
    this.deviceId = this.config.deviceId;
    this.topics = new Topics(this.config.topicPrefix);
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#log = (opts.logger ?? silentLogger).child({ deviceId: this.deviceId });
  }

  // ---------- lifecycle ----------

  async start(): Promise<void> {
    if (this.#state !== 'new') {
      if (this.#state === 'closed' || this.#state === 'stopping') throw new EdgeloopError('EL_ERR_CLOSED', 'agent is closed');
      return;
    }
    this.#state = 'starting';
    try {
      await this.#startParts();
      this.#state = 'running';
    } catch (err) {
      await this.#shutdown(0).catch(() => undefined);
      this.#state = 'closed';
      throw err;
    }
    this.#log.info({ outbox: this.#outbox!.stats(), models: this.#inference?.models() }, 'agent started');
  }

  async #startParts(): Promise<void> {
    const c = this.config;
    const clock = this.#clock;
    // 1. outbox
    this.#outbox = SqliteOutbox.open({
      path: c.outbox.path ?? join(c.dataDir, 'outbox.db'),
      durability: c.outbox.durability,
      maxBytes: c.outbox.maxBytes,
      maxAgeMs: c.outbox.maxAgeMs,
      intakeMaxRows: c.outbox.intakeMaxRows,
      intakeLingerMs: c.outbox.intakeLingerMs,
      cacheKiB: c.outbox.cacheKiB,
      minFreeBytes: c.outbox.minFreeBytes,
      reserveBytes: c.outbox.reserveBytes,
      seqBlock: c.outbox.seqBlock,
      integrityCheck: c.outbox.integrityCheck,
      clock,
      logger: this.#log,
    });
    // a quarantined file or a seq rollback found at open (already logged by the outbox) goes into the status
    const incident = this.#outbox.incidents.at(-1);
    if (incident) this.#setError(`${incident.message} [${incident.code}]`);
    // 2. inference
    let trusted: Map<string, KeyObject> | undefined;
    // files or directories of *.pub files; the same ring goes to the updater, which re-reads its directories when
    // a manifest names a key it does not know yet
    if (c.models.trustedKeys.length > 0) trusted = new TrustedKeyRing(c.models.trustedKeys);
    const requireSignature = c.models.requireSignature ?? trusted !== undefined;
    if (c.inference.enabled) {
      const outbox = this.#outbox;
      this.#inference = new InferenceEngine({
        onEvent: (e) => outbox.appendEvents([e]),
        maxBatchWindows: c.inference.maxBatchWindows,
        cooldownMs: c.inference.cooldownMs,
        intraOpNumThreads: c.inference.intraOpNumThreads,
        trustedKeys: trusted,
        requireSignature,
        ...(this.#opts.createRunner ? { createRunner: this.#opts.createRunner } : {}),
        clock,
        logger: this.#log,
      });
      this.#inference.onModelChange(() => this.#status?.changed());
    }
    // 3. transport
    if (this.#opts.transport) {
      this.#transport = this.#opts.transport;
    } else {
      this.#transport = await this.#createTransport();
      this.#ownsTransport = true;
    }
    const t = this.#transport;
    const onError = (err: Error): void => this.#setError(`transport: ${err.message}`);
    // the transport logs its own 'offline' (with the reason); logging it here too would print every disconnect twice
    t.on('error', onError);
    this.#offTransport = () => {
      t.off('error', onError);
    };
    // 4. publisher, status, pruning
    this.#publisher = new OutboxPublisher({
      outbox: this.#outbox,
      transport: t,
      deviceId: this.deviceId,
      topics: this.topics,
      batchMaxRecords: c.outbox.batchMaxRecords,
      batchMaxBytes: c.outbox.batchMaxBytes,
      lingerMs: c.outbox.batchLingerMs,
      maxInflight: c.outbox.maxInflightBatches,
      clock,
      logger: this.#log,
    });
    this.#publisher.start();
    this.#status = new StatusReporter({
      transport: t,
      deviceId: this.deviceId,
      topics: this.topics,
      snapshot: () => this.status(),
      intervalMs: c.status.intervalMs,
      clock,
      logger: this.#log,
    });
    this.#status.start();
    this.#schedulePrune();
    if (this.#ownsTransport) {
      t.start().catch((err: unknown) => this.#setError(`transport start: ${(err as Error).message}`));
    }
    // 5. models: the updater first (it restores the last model it activated from its store), then the initial
    //    model directories for models that are not active yet
    if (this.#inference) {
      if (c.models.updates && trusted) await this.#startUpdater(trusted);
      // the store's own model directories (copied there by hand), then the configured initial ones
      await this.#loadModels([this.#modelsDir(), ...c.models.initial], trusted ?? new Map(), requireSignature);
    }
    // 6. sources
    const sink: ReadingSink = this;
    const end = (name: string) => () => this.#opts.onSourceEnd?.(name);
    const s = c.sources;
    if (s.simulated) {
      const { SimulatedSource } = await import('./sources/simulated-source.ts');
      this.#sources.push(new SimulatedSource({ sink, ...s.simulated, clock, onEnd: end('simulated') }));
    }
    if (s.csv) {
      const { CsvReplaySource } = await import('./sources/csv-replay-source.ts');
      this.#sources.push(new CsvReplaySource({ sink, ...s.csv, clock, onEnd: end('csv') }));
    }
    if (s.http) {
      const { HttpSource } = await import('./sources/http-source.ts');
      this.#sources.push(new HttpSource({ sink, ...s.http, clock }));
    }
    if (s.socket) {
      const { SocketSource } = await import('./sources/socket-source.ts');
      this.#sources.push(new SocketSource({ sink, ...s.socket, clock }));
    }
    if (s.stdin) {
      const { StdinSource } = await import('./sources/stdin-source.ts');
      this.#sources.push(new StdinSource({ sink, ...(this.#opts.stdin ? { stream: this.#opts.stdin } : {}), clock, onEnd: end('stdin') }));
    }
    for (const src of this.#sources) await src.start();
    // 7. health endpoint
    if (c.health) {
      // loaded on demand: prom-client is ~5 MB of RSS an agent without the endpoint does not need
      const { HealthServer } = await import('./status/health-server.ts');
      this.#health = new HealthServer({
        host: c.health.host,
        port: c.health.port,
        maxOldestAgeMs: c.health.maxOldestAgeMs,
        snapshot: () => this.#healthSnapshot(),
      });
      await this.#health.start();
    }
  }

  async #createTransport(): Promise<Transport> {
    const c = this.config;
    const will = {
      topic: this.topics.status(this.deviceId),
      payload: JSON.stringify(offlineStatus(this.deviceId, this.#outbox?.lastSeq ?? 0, this.#clock.now())),
      qos: 1 as const,
      retain: true,
    };
    // the transport engineer's factory validates the section again and reads the certificate files
    return createTransport(c.transport, { clientId: this.deviceId, will, clock: this.#clock, logger: this.#log });
  }

  #modelsDir(): string {
    return this.config.models.dir ?? join(this.config.dataDir, 'models');
  }

  /**
   * Load the store's model directories, then the configured initial ones. A configured directory that is missing
   * or whose model does not verify is an error at start (the agent would otherwise run without inference); set
   * inference.enabled: false to run without.
   */
  async #loadModels(roots: string[], trusted: ReadonlyMap<string, KeyObject>, requireSignature: boolean): Promise<void> {
    const [store, ...initial] = roots;
    for (const d of initial) {
      if (!existsSync(join(d, MANIFEST_FILE))) {
        throw new EdgeloopError('EL_ERR_AGENT_MODEL_DIR', `models.initial: ${resolve(d)} has no ${MANIFEST_FILE} (set inference.enabled: false to run without inference)`);
      }
    }
    for (const d of modelDirs(store!)) {
      try {
        await this.#activate(d, trusted, requireSignature);
      } catch (err) {
        // a hand-copied model in the store that does not verify is refused; the configured ones decide below
        this.#setError(`model in ${d} refused: ${(err as Error).message}`);
        this.#log.error({ dir: d, code: (err as EdgeloopError).code, reason: (err as Error).message }, 'model refused');
      }
    }
    for (const d of initial) {
      try {
        await this.#activate(resolve(d), trusted, requireSignature);
      } catch (err) {
        const e = err as EdgeloopError;
        throw new EdgeloopError(e.code ?? 'EL_ERR_AGENT_MODEL_DIR', `models.initial: ${resolve(d)}: ${e.message}`, { cause: err });
      }
    }
    if (this.#inference!.models().length === 0 && !this.#updater) {
      this.#log.warn('inference is enabled but there is no model and no updates: set models.initial, or models.updates with models.trustedKeys, or inference.enabled: false');
    }
  }

  async #activate(dir: string, trusted: ReadonlyMap<string, KeyObject>, requireSignature: boolean): Promise<void> {
    const v = verifyModelDir(dir, { trustedKeys: trusted, requireSignature });
    if (this.#inference!.active(v.manifest.name)) return; // the updater restored a newer one
    await this.#inference!.activate(v.manifest, v.modelPath);
  }

  async #startUpdater(trusted: Map<string, KeyObject>): Promise<void> {
    const updater = new ModelUpdater({
      deviceId: this.deviceId,
      transport: this.#transport!,
      host: this.#inference!,
      modelsDir: this.#modelsDir(),
      trustedKeys: trusted,
      topics: this.topics,
      clock: this.#clock,
      logger: this.#log,
      nextSeq: () => this.#outbox!.reserveSeq(),
    });
    await updater.start();
    this.#updater = updater;
  }

  #schedulePrune(): void {
    this.#pruneTimer = this.#clock.setTimeout(() => {
      this.#pruneTimer = undefined;
      try {
        const n = this.#outbox?.closed === false ? this.#outbox.prune() : 0;
        if (n > 0) this.#log.warn({ dropped: n }, 'telemetry older than outbox.maxAgeMs dropped');
      } catch (err) {
        this.#setError(`outbox prune: ${(err as Error).message}`);
      }
      if (this.#state === 'running' || this.#state === 'starting') this.#schedulePrune();
    }, this.config.outbox.pruneIntervalMs);
    this.#pruneTimer.unref?.();
  }

  // ---------- intake ----------

  /**
   * Accept readings: resolves with their seq range once they are committed to the outbox. Rejects with
   * EL_ERR_READING_INVALID (nothing of this call is kept) when a reading is malformed, EL_ERR_OUTBOX_FULL when the
   * outbox refuses telemetry, EL_ERR_AGENT_STOPPING once close() began. Do not mutate `readings` until it settles.
   */
  ingest(readings: OutboxReading[]): Promise<SeqRange> {
    if (this.#state !== 'running' && this.#state !== 'starting') {
      return Promise.reject(new EdgeloopError('EL_ERR_AGENT_STOPPING', `agent ${this.deviceId} is ${this.#state === 'new' ? 'not started' : 'stopping'}; readings not accepted`));
    }
    const outbox = this.#outbox;
    if (!outbox) return Promise.reject(new EdgeloopError('EL_ERR_AGENT_STOPPING', 'agent is not started'));
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!;
      if (typeof r.sensor !== 'string' || r.sensor.length === 0 || r.sensor.length > 128 || !Number.isFinite(r.value) || !Number.isFinite(r.ts) || r.ts < 0) {
        this.#counters.rejected += readings.length;
        return Promise.reject(
          new EdgeloopError('EL_ERR_READING_INVALID', `readings[${i}]: ${describeBad(r)}`, { details: { index: i } }),
        );
      }
    }
    const p = outbox.append(readings).then(
      (range) => {
        this.#counters.accepted += readings.length;
        const inf = this.#inference;
        if (!inf) return range;
        inf.push(readings);
        // backpressure from inference: acknowledge once the model keeps up (the readings are already durable)
        return inf.ready().then(() => range);
      },
      (err: unknown) => {
        this.#counters.refused += readings.length;
        this.#setError((err as Error).message);
        throw err;
      },
    );
    this.#ingesting.add(p);
    void p.finally(() => this.#ingesting.delete(p)).catch(() => undefined);
    return p;
  }

  /** ReadingSink: malformed lines from a source. */
  rejected(source: string, lines: RejectedLine[]): void {
    this.#counters.rejected += lines.length;
    const first = lines[0];
    if (first) this.#log.warn({ source, count: lines.length, line: first.line, reason: first.reason }, 'malformed input rejected');
  }

  // ---------- figures ----------

  get outbox(): SqliteOutbox {
    if (!this.#outbox) throw new EdgeloopError('EL_ERR_CLOSED', 'agent is not started');
    return this.#outbox;
  }
  get inference(): InferenceEngine | undefined {
    return this.#inference;
  }
  get transport(): Transport | undefined {
    return this.#transport;
  }
  get publisher(): OutboxPublisher | undefined {
    return this.#publisher;
  }
  get healthPort(): number | undefined {
    return this.#health?.port;
  }
  get sources(): readonly ReadingSource[] {
    return this.#sources;
  }
  get counters(): AgentCounters {
    return { ...this.#counters };
  }
  get lastError(): string | undefined {
    return this.#lastError;
  }
  get modelUpdater(): ModelUpdater | undefined {
    return this.#updater;
  }

  #setError(msg: string): void {
    const changed = msg !== this.#lastError;
    this.#lastError = msg;
    if (changed) this.#status?.changed();
  }

  outboxStats(): OutboxStats | undefined {
    return this.#outbox && !this.#outbox.closed ? this.#outbox.stats() : undefined;
  }

  /** The status message as published (online: true). */
  status(): StatusMessage {
    const ob = this.outboxStats();
    const inf = this.#inference?.summary();
    const lastError = this.#lastError ?? this.#inference?.lastError ?? this.#publisher?.stats.lastError;
    return {
      v: 1,
      type: 'status',
      deviceId: this.deviceId,
      seq: ob?.lastSeq ?? 0,
      ts: this.#clock.now(),
      online: true,
      agentVersion: AGENT_VERSION,
      models: this.#inference?.models() ?? [],
      ...(ob && {
        outbox: { depth: ob.telemetry + ob.events, bytes: ob.bytes, oldestAgeMs: ob.oldestAgeMs },
        drops: { telemetry: ob.drops.bytes + ob.drops.age, events: 0 },
      }),
      rejected: this.#counters.rejected,
      ...(inf && {
        inference: { windows: inf.windows, anomalies: inf.anomalies, anomalyRate: inf.anomalyRate, p50Ms: inf.p50Ms, p95Ms: inf.p95Ms, p99Ms: inf.p99Ms },
      }),
      ...(lastError ? { lastError } : {}),
    };
  }

  #healthSnapshot(): HealthSnapshot {
    const ps = this.#publisher?.stats;
    return {
      status: this.status(),
      connected: this.#transport?.connected ?? false,
      readingsAccepted: this.#counters.accepted,
      readingsRejected: this.#counters.rejected,
      readingsRefused: this.#counters.refused,
      outbox: outboxHealth(this.outboxStats()),
      messagesPublished: ps?.messages ?? 0,
      publishErrors: ps?.publishErrors ?? 0,
      inferenceErrors: this.#inference?.summary().errors ?? 0,
    };
  }

  // ---------- shutdown ----------

  /**
   * Stop intake, drain for up to `drainTimeoutMs` (default: shutdown.drainTimeoutMs), close everything.
   * Idempotent; concurrent calls share one shutdown.
   */
  close(drainTimeoutMs?: number): Promise<void> {
    if (!this.#closePromise) {
      const prev = this.#state;
      this.#state = 'stopping';
      this.#closePromise = (prev === 'new' ? Promise.resolve() : this.#shutdown(drainTimeoutMs ?? this.config.shutdown.drainTimeoutMs)).finally(() => {
        this.#state = 'closed';
      });
    }
    return this.#closePromise;
  }

  async #shutdown(drainMs: number): Promise<void> {
    const errors: unknown[] = [];
    const step = async (fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    // stop intake: sources first (no new readings), then what was handed over is committed
    for (const s of [...this.#sources].reverse()) await step(() => s.close());
    await step(() => this.#updater?.close());
    await step(() => this.#outbox?.flushIntake());
    await step(() => Promise.allSettled([...this.#ingesting]));
    await step(() => this.#inference?.idle());
    if (this.#pruneTimer) this.#clock.clearTimeout(this.#pruneTimer);
    this.#pruneTimer = undefined;
    // drain
    if (drainMs > 0 && this.#publisher && this.#transport?.connected) {
      await step(async () => {
        const empty = await this.#publisher!.flush(drainMs);
        if (!empty) this.#log.warn({ outbox: this.#outbox?.stats() }, 'drain timeout: the rest stays in the outbox for the next start');
      });
    }
    // a clean goodbye (the last will is only for unclean disconnects)
    await step(() => this.#status?.close(this.#transport?.connected ? { ...this.status(), online: false } : undefined));
    await step(() => this.#publisher?.close());
    this.#offTransport?.();
    if (this.#ownsTransport) await step(() => this.#transport?.close());
    await step(() => this.#inference?.close());
    await step(() => this.#outbox?.close());
    await step(() => this.#health?.close());
    this.#log.info({ errors: errors.length }, 'agent closed');
    if (errors.length > 0) throw errors[0];
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Build an agent from its config; opens nothing until start(). */
export function createAgent(opts: CreateAgentOptions): Agent {
  return new Agent(opts);
}

/** Model directories under `dir`: `dir` itself when it has a manifest, else each sub-directory that has one. */
export function modelDirs(dir: string): string[] {
  const abs = resolve(dir);
  if (!existsSync(abs)) return [];
  if (existsSync(join(abs, MANIFEST_FILE))) return [abs];
  return readdirSync(abs)
    .map((n) => join(abs, n))
    .filter((p) => {
      try {
        return statSync(p).isDirectory() && existsSync(join(p, MANIFEST_FILE));
      } catch {
        return false;
      }
    })
    .sort();
}

function outboxHealth(s: OutboxStats | undefined): HealthSnapshot['outbox'] {
  return { seqRollbacks: s?.incidents.seqRollbacks ?? 0, quarantined: s?.incidents.quarantined ?? 0, diskFreeBytes: s?.disk?.freeBytes, reserve: s?.disk?.reserve };
}

function describeBad(r: OutboxReading): string {
  if (typeof r?.sensor !== 'string' || r.sensor.length === 0 || r.sensor.length > 128) return 'sensor: expected a string of 1-128 characters';
  if (!Number.isFinite(r.value)) return `value: expected a finite number, got ${String(r.value)}`;
  return `ts: expected a non-negative time in ms, got ${String(r.ts)}`;
}
