/**
 * The agent's wiring file: sources → SqliteOutbox → (InferenceEngine → events lane) → OutboxPublisher → Transport,
 * plus the status reporter, the optional health endpoint and the model updater. It owns start and shutdown order.
 *
 * Composed with the part kernel (lib/parts.ts, see #compose), which starts the parts in this order and closes them
 * in reverse:
 *
 *   outbox → inference → transport → publisher + status → pruning → connect (in the background: a device that
 *   boots offline still accepts readings) → model updater → models (the updater's store, then models.initial)
 *   → intake → sources → health
 *
 * so close() stops the health endpoint and the sources (ingest() refuses from then on), commits the intake buffer
 * and lets inference finish, stops the updater, drains the outbox for up to shutdown.drainTimeoutMs and sends the
 * clean offline status, closes the transport and inference, and closes the outbox database last. What is not
 * drained stays in the outbox for the next start. (668 lines: the parts close over the agent's private state;
 * splitting them out needs an agent-host interface, the next step.)
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
import { definePart, System } from '../lib/parts.ts';

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
  #system: System<undefined> | undefined;
  /** how long close() drains the outbox; 0 until close() is called (a failed start does not drain) */
  #drainMs = 0;
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
    this.#system = this.#compose();
    try {
      await this.#system.start();
    } catch (err) {
      // the kernel has closed what had started (without a drain: #drainMs is 0 until close() is called)
      this.#state = 'closed';
      throw err;
    }
    if (this.#state === 'starting') this.#state = 'running';
    this.#log.info({ outbox: this.#outbox!.stats(), models: this.#inference?.models() }, 'agent started');
  }

  /**
   * The agent's parts (lib/parts.ts), in start order; the kernel closes them in reverse, which is the shutdown
   * order the module header states: health, sources, then the intake is committed and inference finishes, the
   * updater stops, the pruning stops, the outbox drains and the clean offline status goes out, the transport
   * closes, inference closes, and the outbox database is closed last.
   */
  #compose(): System<undefined> {
    const c = this.config;
    const clock = this.#clock;
    // files or directories of *.pub files; the same ring goes to the updater, which re-reads its directories when
    // a manifest names a key it does not know yet
    const trusted: Map<string, KeyObject> | undefined = c.models.trustedKeys.length > 0 ? new TrustedKeyRing(c.models.trustedKeys) : undefined;
    const requireSignature = c.models.requireSignature ?? trusted !== undefined;
    const none = (): void => undefined;

    const outbox = definePart({
      name: 'outbox',
      create: () => {
        const o = SqliteOutbox.open({
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
        this.#outbox = o;
        // a quarantined file or a seq rollback found at open (already logged by the outbox) goes into the status
        const incident = o.incidents.at(-1);
        if (incident) this.#setError(`${incident.message} [${incident.code}]`);
        return o;
      },
      start: none,
      close: (o) => o.close(),
    });

    const inference = definePart({
      name: 'inference',
      enabled: () => c.inference.enabled,
      requires: { outbox },
      create: ({ outbox: o }) => {
        const engine = new InferenceEngine({
          onEvent: (e) => o.appendEvents([e]),
          maxBatchWindows: c.inference.maxBatchWindows,
          cooldownMs: c.inference.cooldownMs,
          intraOpNumThreads: c.inference.intraOpNumThreads,
          trustedKeys: trusted,
          requireSignature,
          ...(this.#opts.createRunner ? { createRunner: this.#opts.createRunner } : {}),
          clock,
          logger: this.#log,
        });
        engine.onModelChange(() => this.#status?.changed());
        this.#inference = engine;
        return engine;
      },
      start: none,
      close: (engine) => engine.close(),
    });

    // an injected transport (agent mode, tests) is the caller's: the agent neither starts nor closes it
    const transport = definePart({
      name: 'transport',
      requires: { outbox },
      create: async () => {
        const t = this.#opts.transport ?? (await this.#createTransport());
        this.#ownsTransport = this.#opts.transport === undefined;
        this.#transport = t;
        return t;
      },
      start: (t) => {
        // the transport logs its own 'offline' (with the reason); logging it here too would print every disconnect twice
        const onError = (err: Error): void => this.#setError(`transport: ${err.message}`);
        t.on('error', onError);
        this.#offTransport = () => t.off('error', onError);
      },
      close: async (t) => {
        this.#offTransport?.();
        if (this.#ownsTransport) await t.close();
      },
    });

    // publisher and status reporter; closing drains the outbox first, then says a clean goodbye
    const uplink = definePart({
      name: 'uplink',
      requires: { outbox, transport },
      create: ({ outbox: o, transport: t }) => {
        this.#publisher = new OutboxPublisher({
          outbox: o,
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
        this.#status = new StatusReporter({
          transport: t,
          deviceId: this.deviceId,
          topics: this.topics,
          snapshot: () => this.status(),
          intervalMs: c.status.intervalMs,
          clock,
          logger: this.#log,
        });
        return { publisher: this.#publisher, status: this.#status, transport: t };
      },
      start: (u) => {
        u.publisher.start();
        u.status.start();
      },
      close: async (u) => {
        const errors: unknown[] = [];
        const step = async (fn: () => unknown): Promise<void> => {
          try {
            await fn();
          } catch (err) {
            errors.push(err);
          }
        };
        if (this.#drainMs > 0 && u.transport.connected) {
          await step(async () => {
            const empty = await u.publisher.flush(this.#drainMs);
            if (!empty) this.#log.warn({ outbox: this.#outbox?.stats() }, 'drain timeout: the rest stays in the outbox for the next start');
          });
        }
        // a clean goodbye (the last will is only for unclean disconnects)
        await step(() => u.status.close(u.transport.connected ? { ...this.status(), online: false } : undefined));
        await step(() => u.publisher.close());
        if (errors.length > 0) throw errors[0];
      },
    });

    const prune = definePart({
      name: 'prune',
      requires: { uplink },
      create: () => ({}),
      start: () => this.#schedulePrune(),
      close: () => {
        if (this.#pruneTimer) this.#clock.clearTimeout(this.#pruneTimer);
        this.#pruneTimer = undefined;
      },
    });

    // the owned transport connects in the background once publisher and status listen for 'online': a device that
    // boots offline still accepts readings
    const connect = definePart({
      name: 'connect',
      requires: { transport, prune },
      create: () => ({}),
      start: () => {
        if (this.#ownsTransport) this.#transport!.start().catch((err: unknown) => this.#setError(`transport start: ${(err as Error).message}`));
      },
      close: none,
    });

    const updater = definePart({
      name: 'model-updater',
      enabled: () => c.inference.enabled && c.models.updates && trusted !== undefined,
      requires: { transport, inference, outbox, connect },
      create: ({ transport: t, inference: host, outbox: o }) => {
        const u = new ModelUpdater({
          deviceId: this.deviceId,
          transport: t,
          host,
          modelsDir: this.#modelsDir(),
          trustedKeys: trusted!,
          topics: this.topics,
          clock,
          logger: this.#log,
          nextSeq: () => o.reserveSeq(),
        });
        this.#updater = u;
        return u;
      },
    });

    // the updater first (it restores the last model it activated from its store), then the store's own model
    // directories (copied there by hand), then the configured initial ones for models that are not active yet
    const models = definePart({
      name: 'models',
      enabled: () => c.inference.enabled,
      requires: { inference, connect },
      optional: { updater },
      create: () => ({}),
      start: () => this.#loadModels([this.#modelsDir(), ...c.models.initial], trusted ?? new Map(), requireSignature),
      close: none,
    });

    // closing the intake: what sources handed over is committed, in-flight ingest() calls settle, inference finishes
    const intake = definePart({
      name: 'intake',
      requires: { uplink, connect },
      optional: { models, updater },
      create: () => ({}),
      start: none,
      close: async () => {
        const errors: unknown[] = [];
        for (const fn of [() => this.#outbox?.flushIntake(), () => Promise.allSettled([...this.#ingesting]), () => this.#inference?.idle()]) {
          try {
            await fn();
          } catch (err) {
            errors.push(err);
          }
        }
        if (errors.length > 0) throw errors[0];
      },
    });

    const sources = definePart({
      name: 'sources',
      requires: { intake },
      create: async () => {
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
        return this.#sources;
      },
      start: async (list) => {
        for (const src of list) await src.start();
      },
      close: async (list) => {
        let first: unknown;
        for (const src of [...list].reverse()) {
          try {
            await src.close();
          } catch (err) {
            first ??= err;
          }
        }
        if (first !== undefined) throw first;
      },
    });

    const health = definePart({
      name: 'health',
      enabled: () => Boolean(c.health),
      requires: { sources },
      create: async () => {
        // loaded on demand: prom-client is ~5 MB of RSS an agent without the endpoint does not need
        const { HealthServer } = await import('./status/health-server.ts');
        this.#health = new HealthServer({
          host: c.health!.host,
          port: c.health!.port,
          maxOldestAgeMs: c.health!.maxOldestAgeMs,
          snapshot: () => this.#healthSnapshot(),
        });
        return this.#health;
      },
    });

    return new System({ parts: [outbox, inference, transport, uplink, prune, connect, updater, models, intake, sources, health], context: undefined });
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
   * Stop intake, drain for up to `drainTimeoutMs` (default: shutdown.drainTimeoutMs), close everything (the
   * reverse of the start order, see #compose). Idempotent; concurrent calls share one shutdown.
   */
  close(drainTimeoutMs?: number): Promise<void> {
    if (!this.#closePromise) {
      const prev = this.#state;
      this.#state = 'stopping';
      this.#drainMs = drainTimeoutMs ?? this.config.shutdown.drainTimeoutMs;
      const system = this.#system;
      this.#closePromise = (prev === 'new' || !system
        ? Promise.resolve()
        : system.close().finally(() => this.#log.info('agent closed'))
      ).finally(() => {
        this.#state = 'closed';
      });
    }
    return this.#closePromise;
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
