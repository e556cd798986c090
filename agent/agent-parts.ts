/**
 * The agent's parts (lib/parts.ts) and what they need from the agent: `composeAgent(host)` defines outbox,
 * inference, transport, uplink (publisher + status), prune, connect, model updater, models, intake, sources and
 * health, in start order, over an `AgentHost` (config, identity, clock, logger, error and status callbacks, the
 * ReadingSink) and fills the host's `slots` with what it creates. The Agent (create-agent.ts) provides the host
 * and owns the lifecycle; this file imports nothing from it.
 */
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { KeyObject } from 'node:crypto';
import type { Topics } from '../protocol/topics.ts';
import type { StatusMessage } from '../protocol/messages.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { TrustedKeyRing } from '../models/manifest/index.ts';
import type { ModelRunner } from '../models/runtime/model-runner.ts';
import type { Manifest } from '../protocol/manifest.ts';
import type { AgentConfig } from './config.ts';
import { SqliteOutbox } from './outbox/sqlite-outbox.ts';
import { OutboxPublisher } from './publisher/outbox-publisher.ts';
import { InferenceEngine } from './inference/inference-engine.ts';
import { StatusReporter, offlineStatus } from './status/status-reporter.ts';
import type { HealthServer, HealthSnapshot } from './status/health-server.ts';
import type { ReadingSink, ReadingSource } from './sources/source.ts';
import type { Transport } from '../transport/transport.ts';
import { createTransport } from '../transport/create-transport.ts';
import { ModelUpdater } from './model-updater/model-updater.ts';
import { definePart, System } from '../lib/parts.ts';
import { loadModels, modelsDir } from './agent-models.ts';

/** What the caller injected into createAgent() that the parts use. */
export interface AgentInjections {
  /** an already constructed transport; the agent then neither starts nor closes it */
  transport?: Transport | undefined;
  /** stream for sources.stdin (default process.stdin) */
  stdin?: Readable | undefined;
  /** called when a finite source has ended */
  onSourceEnd?: ((source: string) => void) | undefined;
  /** ONNX runner factory; default: one OrtModelRunner per model */
  createRunner?: ((modelBytes: Uint8Array, manifest: Manifest) => Promise<ModelRunner>) | undefined;
}

/** What the parts create, filled in as they are created (the Agent's getters read them). */
export interface AgentSlots {
  outbox?: SqliteOutbox | undefined;
  inference?: InferenceEngine | undefined;
  transport?: Transport | undefined;
  /** false when the transport was injected */
  ownsTransport: boolean;
  publisher?: OutboxPublisher | undefined;
  status?: StatusReporter | undefined;
  health?: HealthServer | undefined;
  sources: ReadingSource[];
  updater?: ModelUpdater | undefined;
}

/** What the parts need from the agent. */
export interface AgentHost {
  readonly config: AgentConfig;
  readonly deviceId: string;
  readonly topics: Topics;
  readonly clock: Clock;
  /** the agent's logger (bound to its deviceId) */
  readonly logger: Logger;
  readonly options: AgentInjections;
  /** where the sources hand their readings */
  readonly sink: ReadingSink;
  readonly slots: AgentSlots;
  /** record the last error (it goes into the status) */
  setError(msg: string): void;
  /** the status message as published (online: true) */
  status(): StatusMessage;
  healthSnapshot(): HealthSnapshot;
  /** how long closing drains the outbox, ms; 0 until close() is called (a failed start does not drain) */
  drainMs(): number;
  /** whether the agent is starting or running (the prune timer re-arms only then) */
  running(): boolean;
  /** the ingest() calls not settled yet */
  ingesting(): Iterable<Promise<unknown>>;
}

/**
 * The agent's parts, in start order; the kernel closes them in reverse, which is the shutdown order create-agent.ts
 * states: health, sources, then the intake is committed and inference finishes, the updater stops, the pruning
 * stops, the outbox drains and the clean offline status goes out, the transport closes, inference closes, and the
 * outbox database is closed last.
 */
export function composeAgent(host: AgentHost): System<undefined> {
  const p = host.slots;
  const c = host.config;
  const clock = host.clock;
  let offTransport: (() => void) | undefined;
  let pruneTimer: TimerHandle | undefined;
  const schedulePrune = (): void => {
    pruneTimer = clock.setTimeout(() => {
      pruneTimer = undefined;
      try {
        const n = p.outbox?.closed === false ? p.outbox.prune() : 0;
        if (n > 0) host.logger.warn({ dropped: n }, 'telemetry older than outbox.maxAgeMs dropped');
      } catch (err) {
        host.setError(`outbox prune: ${(err as Error).message}`);
      }
      if (host.running()) schedulePrune();
    }, c.outbox.pruneIntervalMs);
    pruneTimer.unref?.();
  };

  // files or directories of *.pub files; the same ring goes to the updater, which re-reads its directories when
  // a manifest names a key it does not know yet
  const trusted: Map<string, KeyObject> | undefined =
    c.models.trustedKeys.length > 0 ? new TrustedKeyRing(c.models.trustedKeys) : undefined;
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
        logger: host.logger,
      });
      p.outbox = o;
      // a quarantined file or a seq rollback found at open (already logged by the outbox) goes into the status
      const incident = o.incidents.at(-1);
      if (incident) host.setError(`${incident.message} [${incident.code}]`);
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
        ...(host.options.createRunner ? { createRunner: host.options.createRunner } : {}),
        clock,
        logger: host.logger,
      });
      engine.onModelChange(() => p.status?.changed());
      p.inference = engine;
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
      const t = host.options.transport ?? (await buildTransport(host));
      p.ownsTransport = host.options.transport === undefined;
      p.transport = t;
      return t;
    },
    start: (t) => {
      // the transport logs its own 'offline' (with the reason); logging it here too would print every disconnect twice
      const onError = (err: Error): void => host.setError(`transport: ${err.message}`);
      t.on('error', onError);
      offTransport = () => t.off('error', onError);
    },
    close: async (t) => {
      offTransport?.();
      if (p.ownsTransport) await t.close();
    },
  });

  // publisher and status reporter; closing drains the outbox first, then says a clean goodbye
  const uplink = definePart({
    name: 'uplink',
    requires: { outbox, transport },
    create: ({ outbox: o, transport: t }) => {
      p.publisher = new OutboxPublisher({
        outbox: o,
        transport: t,
        deviceId: host.deviceId,
        topics: host.topics,
        batchMaxRecords: c.outbox.batchMaxRecords,
        batchMaxBytes: c.outbox.batchMaxBytes,
        lingerMs: c.outbox.batchLingerMs,
        maxInflight: c.outbox.maxInflightBatches,
        clock,
        logger: host.logger,
      });
      p.status = new StatusReporter({
        transport: t,
        deviceId: host.deviceId,
        topics: host.topics,
        snapshot: () => host.status(),
        intervalMs: c.status.intervalMs,
        clock,
        logger: host.logger,
      });
      return { publisher: p.publisher, status: p.status, transport: t };
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
      if (host.drainMs() > 0 && u.transport.connected) {
        await step(async () => {
          const empty = await u.publisher.flush(host.drainMs());
          if (!empty)
            host.logger.warn(
              { outbox: p.outbox?.stats() },
              'drain timeout: the rest stays in the outbox for the next start',
            );
        });
      }
      // a clean goodbye (the last will is only for unclean disconnects)
      await step(() => u.status.close(u.transport.connected ? { ...host.status(), online: false } : undefined));
      await step(() => u.publisher.close());
      if (errors.length > 0) throw errors[0];
    },
  });

  const prune = definePart({
    name: 'prune',
    requires: { uplink },
    create: () => ({}),
    start: () => schedulePrune(),
    close: () => {
      if (pruneTimer) host.clock.clearTimeout(pruneTimer);
      pruneTimer = undefined;
    },
  });

  // the owned transport connects in the background once publisher and status listen for 'online': a device that
  // boots offline still accepts readings
  const connect = definePart({
    name: 'connect',
    requires: { transport, prune },
    create: () => ({}),
    start: () => {
      if (p.ownsTransport)
        p.transport!.start().catch((err: unknown) => host.setError(`transport start: ${(err as Error).message}`));
    },
    close: none,
  });

  const updater = definePart({
    name: 'model-updater',
    enabled: () => c.inference.enabled && c.models.updates && trusted !== undefined,
    requires: { transport, inference, outbox, connect },
    create: ({ transport: t, inference: engine, outbox: o }) => {
      const u = new ModelUpdater({
        deviceId: host.deviceId,
        transport: t,
        host: engine,
        modelsDir: modelsDir(c),
        trustedKeys: trusted!,
        topics: host.topics,
        clock,
        logger: host.logger,
        nextSeq: () => o.reserveSeq(),
        shadow: c.models.shadow,
      });
      p.updater = u;
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
    start: () => loadModels(host, [modelsDir(c), ...c.models.initial], trusted ?? new Map(), requireSignature),
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
      for (const fn of [
        () => p.outbox?.flushIntake(),
        () => Promise.allSettled([...host.ingesting()]),
        () => p.inference?.idle(),
      ]) {
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
      const sink = host.sink;
      const end = (name: string) => () => host.options.onSourceEnd?.(name);
      const s = c.sources;
      if (s.simulated) {
        const { SimulatedSource } = await import('./sources/simulated-source.ts');
        p.sources.push(new SimulatedSource({ sink, ...s.simulated, clock, onEnd: end('simulated') }));
      }
      if (s.csv) {
        const { CsvReplaySource } = await import('./sources/csv-replay-source.ts');
        p.sources.push(new CsvReplaySource({ sink, ...s.csv, clock, onEnd: end('csv') }));
      }
      if (s.http) {
        const { HttpSource } = await import('./sources/http-source.ts');
        p.sources.push(new HttpSource({ sink, ...s.http, clock }));
      }
      if (s.socket) {
        const { SocketSource } = await import('./sources/socket-source.ts');
        p.sources.push(new SocketSource({ sink, ...s.socket, clock }));
      }
      if (s.stdin) {
        const { StdinSource } = await import('./sources/stdin-source.ts');
        p.sources.push(
          new StdinSource({
            sink,
            ...(host.options.stdin ? { stream: host.options.stdin } : {}),
            clock,
            onEnd: end('stdin'),
          }),
        );
      }
      return p.sources;
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
      p.health = new HealthServer({
        host: c.health!.host,
        port: c.health!.port,
        maxOldestAgeMs: c.health!.maxOldestAgeMs,
        snapshot: () => host.healthSnapshot(),
      });
      return p.health;
    },
  });

  return new System({
    parts: [outbox, inference, transport, uplink, prune, connect, updater, models, intake, sources, health],
    context: undefined,
  });
}

async function buildTransport(host: AgentHost): Promise<Transport> {
  const c = host.config;
  const p = host.slots;
  const will = {
    topic: host.topics.status(host.deviceId),
    payload: JSON.stringify(offlineStatus(host.deviceId, p.outbox?.lastSeq ?? 0, host.clock.now())),
    qos: 1 as const,
    retain: true,
  };
  // the transport engineer's factory validates the section again and reads the certificate files
  return createTransport(c.transport, { clientId: host.deviceId, will, clock: host.clock, logger: host.logger });
}
