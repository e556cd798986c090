/**
 * The agent's wiring file: sources → SqliteOutbox → (InferenceEngine → events lane) → OutboxPublisher → Transport,
 * plus the status reporter, the optional health endpoint and the model updater. It owns start and shutdown order.
 *
 * Composed with the part kernel (lib/parts.ts): the parts are defined in agent-parts.ts over the AgentHost that
 * #compose builds; the kernel starts them in this order and closes them in reverse:
 *
 *   outbox → inference → transport → publisher + status → pruning → connect (in the background: a device that
 *   boots offline still accepts readings) → model updater → models (the updater's store, then models.initial)
 *   → intake → sources → health
 *
 * so close() stops the health endpoint and the sources (ingest() refuses from then on), commits the intake buffer
 * and lets inference finish, stops the updater, drains the outbox for up to shutdown.drainTimeoutMs and sends the
 * clean offline status, closes the transport and inference, and closes the outbox database last. What is not
 * drained stays in the outbox for the next start.
 *
 * Many agents in one process (the simulator's agent mode): createAgent() is synchronous and opens nothing; inject a
 * transport, leave sources and health unset, and feed readings with `agent.ingest()`.
 */
import type { Readable } from 'node:stream';
import { EdgeloopError } from '../protocol/errors.ts';
import { Topics } from '../protocol/topics.ts';
import type { StatusMessage } from '../protocol/messages.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { z } from 'zod';
import { callback, clockAndLogger, dependency, parseOptions } from '../lib/options.ts';
import type { ModelRunner } from '../models/runtime/model-runner.ts';
import type { Manifest } from '../protocol/manifest.ts';
import { parseAgentConfig, type AgentConfig, type AgentConfigInput } from './config.ts';
import type { SqliteOutbox, OutboxReading, OutboxStats, SeqRange } from './outbox/sqlite-outbox.ts';
import type { OutboxPublisher } from './publisher/outbox-publisher.ts';
import type { InferenceEngine } from './inference/inference-engine.ts';
import type { HealthSnapshot } from './status/health-server.ts';
import type { ReadingSink, ReadingSource } from './sources/source.ts';
import type { RejectedLine } from './sources/reading-parser.ts';
import type { Transport } from '../transport/transport.ts';
import type { ModelUpdater } from './model-updater/model-updater.ts';
import { PACKAGE_VERSION } from '../lib/package-root.ts';
import type { System } from '../lib/parts.ts';
import { composeAgent, type AgentHost, type AgentSlots } from './agent-parts.ts';

export const AGENT_VERSION: string = PACKAGE_VERSION;

export { modelDirs } from './agent-models.ts';

/**
 * createAgent's own options: the config (checked on its own by parseAgentConfig, so its errors read "agent config:
 * …") and what is injected. An unknown option is refused with a suggestion (EL_ERR_CONFIG_INVALID).
 */
export const CreateAgentOptionsSchema = z.strictObject({
  /** validated config, or raw input validated here */
  config: dependency<AgentConfig | AgentConfigInput>('the agent config'),
  /** an already constructed transport (agent mode, tests); the agent then neither starts nor closes it */
  transport: dependency<Transport>('a Transport').optional(),
  ...clockAndLogger,
  /** stream for sources.stdin (default process.stdin) */
  stdin: dependency<Readable>('a Readable').optional(),
  /** called when a finite source (stdin, csv without loop, simulated ticks) has ended */
  onSourceEnd: callback<(source: string) => void>().optional(),
  /** ONNX runner factory (share sessions between agents); default: one OrtModelRunner per model */
  createRunner: callback<(modelBytes: Uint8Array, manifest: Manifest) => Promise<ModelRunner>>().optional(),
});

export type CreateAgentOptions = z.input<typeof CreateAgentOptionsSchema>;

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
  /** what the parts created (agent-parts.ts fills it in) */
  readonly #p: AgentSlots = { ownsTransport: false, sources: [] };
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'closed' = 'new';
  #closePromise: Promise<void> | undefined;
  #system: System<undefined> | undefined;
  /** how long close() drains the outbox; 0 until close() is called (a failed start does not drain) */
  #drainMs = 0;
  #counters: AgentCounters = { accepted: 0, rejected: 0, refused: 0 };
  #lastError: string | undefined;
  #ingesting = new Set<Promise<unknown>>();

  constructor(opts: CreateAgentOptions) {
    parseOptions(CreateAgentOptionsSchema, opts, { where: 'createAgent' });
    this.config = Object.freeze(parseAgentConfig(opts.config));
    this.deviceId = this.config.deviceId;
    this.topics = new Topics(this.config.topicPrefix);
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#log = (opts.logger ?? silentLogger).child({ deviceId: this.deviceId });
  }

  // ---------- lifecycle ----------

  async start(): Promise<void> {
    if (this.#state !== 'new') {
      if (this.#state === 'closed' || this.#state === 'stopping')
        throw new EdgeloopError('EL_ERR_CLOSED', 'agent is closed');
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
    this.#log.info({ outbox: this.#p.outbox!.stats(), models: this.#p.inference?.models() }, 'agent started');
  }

  /** The agent's parts (agent-parts.ts) over a host that reads and fills the agent's private state. */
  #compose(): System<undefined> {
    const host: AgentHost = {
      config: this.config,
      deviceId: this.deviceId,
      topics: this.topics,
      clock: this.#clock,
      logger: this.#log,
      options: this.#opts,
      sink: this,
      slots: this.#p,
      setError: (msg) => this.#setError(msg),
      status: () => this.status(),
      healthSnapshot: () => this.#healthSnapshot(),
      drainMs: () => this.#drainMs,
      running: () => this.#state === 'running' || this.#state === 'starting',
      ingesting: () => this.#ingesting,
    };
    return composeAgent(host);
  }

  // ---------- intake ----------

  /**
   * Accept readings: resolves with their seq range once they are committed to the outbox. Rejects with
   * EL_ERR_READING_INVALID (nothing of this call is kept) when a reading is malformed, EL_ERR_OUTBOX_FULL when the
   * outbox refuses telemetry, EL_ERR_AGENT_STOPPING once close() began. Do not mutate `readings` until it settles.
   */
  ingest(readings: OutboxReading[]): Promise<SeqRange> {
    if (this.#state !== 'running' && this.#state !== 'starting') {
      return Promise.reject(
        new EdgeloopError(
          'EL_ERR_AGENT_STOPPING',
          `agent ${this.deviceId} is ${this.#state === 'new' ? 'not started' : 'stopping'}; readings not accepted`,
        ),
      );
    }
    const outbox = this.#p.outbox;
    if (!outbox) return Promise.reject(new EdgeloopError('EL_ERR_AGENT_STOPPING', 'agent is not started'));
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!;
      if (
        typeof r.sensor !== 'string' ||
        r.sensor.length === 0 ||
        r.sensor.length > 128 ||
        !Number.isFinite(r.value) ||
        !Number.isFinite(r.ts) ||
        r.ts < 0
      ) {
        this.#counters.rejected += readings.length;
        return Promise.reject(
          new EdgeloopError('EL_ERR_READING_INVALID', `readings[${i}]: ${describeBad(r)}`, { details: { index: i } }),
        );
      }
    }
    const p = outbox.append(readings).then(
      (range) => {
        this.#counters.accepted += readings.length;
        const inf = this.#p.inference;
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
    if (first)
      this.#log.warn(
        { source, count: lines.length, line: first.line, reason: first.reason },
        'malformed input rejected',
      );
  }

  // ---------- figures ----------

  get outbox(): SqliteOutbox {
    if (!this.#p.outbox) throw new EdgeloopError('EL_ERR_CLOSED', 'agent is not started');
    return this.#p.outbox;
  }
  get inference(): InferenceEngine | undefined {
    return this.#p.inference;
  }
  get transport(): Transport | undefined {
    return this.#p.transport;
  }
  get publisher(): OutboxPublisher | undefined {
    return this.#p.publisher;
  }
  get healthPort(): number | undefined {
    return this.#p.health?.port;
  }
  get sources(): readonly ReadingSource[] {
    return this.#p.sources;
  }
  get counters(): AgentCounters {
    return { ...this.#counters };
  }
  get lastError(): string | undefined {
    return this.#lastError;
  }
  get modelUpdater(): ModelUpdater | undefined {
    return this.#p.updater;
  }

  #setError(msg: string): void {
    const changed = msg !== this.#lastError;
    this.#lastError = msg;
    if (changed) this.#p.status?.changed();
  }

  outboxStats(): OutboxStats | undefined {
    return this.#p.outbox && !this.#p.outbox.closed ? this.#p.outbox.stats() : undefined;
  }

  /** The status message as published (online: true). */
  status(): StatusMessage {
    const ob = this.outboxStats();
    const inf = this.#p.inference?.summary();
    const shadow = this.#p.inference?.shadowReports();
    const lastError = this.#lastError ?? this.#p.inference?.lastError ?? this.#p.publisher?.stats.lastError;
    return {
      v: 1,
      type: 'status',
      deviceId: this.deviceId,
      seq: ob?.lastSeq ?? 0,
      ts: this.#clock.now(),
      online: true,
      agentVersion: AGENT_VERSION,
      models: this.#p.inference?.models() ?? [],
      ...(this.config.site !== undefined ? { site: this.config.site } : {}),
      ...(this.config.hardware !== undefined ? { hardware: this.config.hardware } : {}),
      ...(ob && {
        outbox: { depth: ob.telemetry + ob.events, bytes: ob.bytes, oldestAgeMs: ob.oldestAgeMs },
        drops: { telemetry: ob.drops.bytes + ob.drops.age, events: 0 },
      }),
      rejected: this.#counters.rejected,
      ...(inf && {
        inference: {
          windows: inf.windows,
          anomalies: inf.anomalies,
          anomalyRate: inf.anomalyRate,
          p50Ms: inf.p50Ms,
          p95Ms: inf.p95Ms,
          p99Ms: inf.p99Ms,
        },
      }),
      ...(shadow?.length ? { shadow } : {}),
      ...(lastError ? { lastError } : {}),
    };
  }

  #healthSnapshot(): HealthSnapshot {
    const ps = this.#p.publisher?.stats;
    return {
      status: this.status(),
      connected: this.#p.transport?.connected ?? false,
      readingsAccepted: this.#counters.accepted,
      readingsRejected: this.#counters.rejected,
      readingsRefused: this.#counters.refused,
      outbox: outboxHealth(this.outboxStats()),
      messagesPublished: ps?.messages ?? 0,
      publishErrors: ps?.publishErrors ?? 0,
      inferenceErrors: this.#p.inference?.summary().errors ?? 0,
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
      this.#closePromise = (
        prev === 'new' || !system ? Promise.resolve() : system.close().finally(() => this.#log.info('agent closed'))
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

function outboxHealth(s: OutboxStats | undefined): HealthSnapshot['outbox'] {
  return {
    seqRollbacks: s?.incidents.seqRollbacks ?? 0,
    quarantined: s?.incidents.quarantined ?? 0,
    diskFreeBytes: s?.disk?.freeBytes,
    reserve: s?.disk?.reserve,
  };
}

function describeBad(r: OutboxReading): string {
  if (typeof r?.sensor !== 'string' || r.sensor.length === 0 || r.sensor.length > 128)
    return 'sensor: expected a string of 1-128 characters';
  if (!Number.isFinite(r.value)) return `value: expected a finite number, got ${String(r.value)}`;
  return `ts: expected a non-negative time in ms, got ${String(r.ts)}`;
}
