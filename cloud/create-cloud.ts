/**
 * The cloud process's wiring: builds the parts named in config, starts them in dependency order and closes them
 * in reverse. `edgeloop cloud` and `edgeloop up` both use it.
 *
 * A part is `{ name, start(), close(), health?() }`. Part definitions are data (CLOUD_PARTS): a name, the parts it
 * requires (pulled in when it is selected with `only`), and a factory. The list order is the start order, so a
 * new part (recommend, registry, rollout) is added by inserting one definition where its dependencies are
 * already started — or passed in `deps.extraParts` by another wiring file.
 *
 * Default parts, in start order:
 *   dlq            SqliteDlq (<dataDir>/dlq.db)
 *   stream         LocalStream (<dataDir>/stream.db) or KinesisStream
 *   feature-store  SqliteFeatureStore (<dataDir>/features.db) or SageMakerFeatureStore
 *   ingest         Ingest (+ MqttIngestClient when broker.mode is external); requires dlq, stream
 *   broker         EmbeddedBroker (broker.mode embedded); ingests inside its publish path when ingest runs
 *   processor      the stream processor (cloud/processor/); requires stream, feature-store
 *   registry       the model registry (cloud/registry/), when config.registry is set
 *   recommend      the recommendation service (cloud/recommend/), when config.recommend is set; requires feature-store
 *   rollout        the rollout controller (cloud/rollout/), when config.rollout is set; uses the in-process registry
 *   http           /healthz and Prometheus /metrics (fastify, prom-client)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';
import { EdgeloopError } from '../protocol/errors.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import type { Stream } from './stream/stream.ts';
import type { FeatureStore } from './feature-store/feature-store.ts';
import { cloudPaths, type CloudConfig } from './config.ts';
import { SqliteDlq, DEAD_LETTER_REASONS } from './dlq/sqlite-dlq.ts';
import { Ingest, type AcceptInput, type IngestOutcome } from './ingest/ingest.ts';
import { MqttIngestClient } from './ingest/mqtt-ingest-client.ts';
import { EmbeddedBroker } from './broker/embedded-broker.ts';
import { loadCredentialsFile } from './broker/credentials.ts';

export interface PartHealth {
  ok: boolean;
  [k: string]: unknown;
}

export interface CloudPart {
  readonly name: string;
  start(): Promise<void>;
  close(): Promise<void>;
  health?(): PartHealth;
  /** the component behind the part (EmbeddedBroker, Ingest, LocalStream, ...) */
  readonly instance?: unknown;
}

export interface PartContext {
  config: CloudConfig;
  paths: ReturnType<typeof cloudPaths>;
  logger: Logger;
  clock: Clock;
  registry: Registry;
  /** a part built earlier (undefined when not selected) */
  part(name: string): CloudPart | undefined;
  /** the instance behind an earlier part */
  instance<T>(name: string): T | undefined;
  /** names of the selected parts */
  selected: ReadonlySet<string>;
}

export interface PartDef {
  name: string;
  /** parts pulled in when this one is selected */
  requires?: (config: CloudConfig) => string[];
  /** false when the part does not apply to this config (e.g. broker with an external broker) */
  enabled?: (config: CloudConfig) => boolean;
  create(ctx: PartContext): Promise<CloudPart> | CloudPart;
}

export interface CloudDeps {
  logger?: Logger;
  clock?: Clock;
  /** prom-client registry for /metrics; a new one by default */
  registry?: Registry;
  /** working directory that relative paths in config resolve against */
  cwd?: string;
  /** more part definitions, started after the default ones (before http); one named like a built-in part replaces it */
  extraParts?: PartDef[];
  /** override the stream (tests, custom backends) */
  stream?: Stream;
  featureStore?: FeatureStore;
}

export interface CloudUrls {
  mqtt?: string | undefined;
  mqtts?: string | undefined;
  http?: string | undefined;
}

export interface Cloud {
  start(): Promise<void>;
  close(): Promise<void>;
  /** built parts by name, in start order */
  readonly parts: ReadonlyMap<string, CloudPart>;
  readonly urls: CloudUrls;
  health(): { ok: boolean; parts: Record<string, PartHealth> };
  readonly registry: Registry;
}

function simplePart(name: string, instance: { start(): Promise<void> | void; close(): Promise<void> | void }, health?: () => PartHealth): CloudPart {
  return {
    name,
    instance,
    start: async () => {
      await instance.start();
    },
    close: async () => {
      await instance.close();
    },
    ...(health ? { health } : {}),
  };
}

/** Resolves to the Ingest once the ingest part exists; lets the broker be built before/without it. */
class IngestHook {
  ingest: Ingest | undefined;
  accept(msg: AcceptInput): Promise<IngestOutcome> {
    if (!this.ingest) return Promise.reject(new EdgeloopError('EL_ERR_CLOSED', 'ingest is not running'));
    return this.ingest.accept(msg);
  }
}

function readPem(path: string | undefined, what: string): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_CONFIG_INVALID', `cannot read ${what} ${path}: ${(cause as Error).message}`, { cause });
  }
}

export const CLOUD_PARTS: readonly PartDef[] = [
  {
    name: 'dlq',
    create: (ctx) => {
      const dlq = new SqliteDlq({
        path: ctx.paths.dlq,
        maxPayloadBytes: ctx.config.dlq.maxPayloadBytes,
        maxRows: ctx.config.dlq.maxRows,
        maxAgeMs: ctx.config.dlq.maxAgeDays * 86_400_000,
        clock: ctx.clock,
      });
      const reasons = new Counter({
        name: 'edgeloop_dlq_messages_total',
        help: 'Messages written to the dead-letter store, by reason (this process).',
        labelNames: ['reason'],
        registers: [ctx.registry],
        collect() {
          let counts: Record<string, number>;
          try {
            counts = dlq.sessionCounts();
          } catch {
            return;
          }
          this.reset();
          for (const r of DEAD_LETTER_REASONS) this.inc({ reason: r }, counts[r] ?? 0);
        },
      });
      void reasons;
      return simplePart('dlq', dlq);
    },
  },
  {
    name: 'stream',
    create: async (ctx) => {
      const c = ctx.config.stream;
      if (c.kind === 'kinesis') {
        const mod = (await importPart('stream', './stream/kinesis-stream.ts')) as {
          KinesisStream: new (o: Record<string, unknown>) => Stream;
        };
        // (KinesisStream's client config picks the HTTP/1 handler for plain-HTTP local endpoints itself)
        const opts: Record<string, unknown> = {
          checkpointPath: `${ctx.paths.dataDir}/kinesis-checkpoints.db`,
          ...c.kinesis,
          logger: ctx.logger.child({ part: 'stream' }),
        };
        return simplePart('stream', new mod.KinesisStream(opts));
      }
      const { LocalStream } = await import('./stream/local-stream.ts');
      const s = new LocalStream({
        path: ctx.paths.stream,
        name: c.name,
        shardCount: c.local.shardCount,
        synchronous: c.local.synchronous,
        retentionMs: c.local.retentionHours * 3_600_000,
        retentionBytes: c.local.retentionBytes,
        clock: ctx.clock,
      });
      return simplePart('stream', s);
    },
  },
  {
    name: 'feature-store',
    create: async (ctx) => {
      const c = ctx.config.featureStore;
      if (c.kind === 'sagemaker') {
        const mod = (await importPart('feature-store', './feature-store/sagemaker-feature-store.ts')) as {
          SageMakerFeatureStore: new (o: Record<string, unknown>) => FeatureStore;
        };
        return simplePart('feature-store', new mod.SageMakerFeatureStore({ ...(c.sagemaker ?? {}) }));
      }
      const { SqliteFeatureStore } = await import('./feature-store/sqlite-feature-store.ts');
      const fs = new SqliteFeatureStore({
        path: ctx.paths.features,
        synchronous: c.sqlite.synchronous,
        ...(c.sqlite.defaultTtlHours !== undefined ? { defaultTtlMs: c.sqlite.defaultTtlHours * 3_600_000 } : {}),
        clock: ctx.clock,
      });
      return simplePart('feature-store', fs);
    },
  },
  {
    name: 'ingest',
    requires: (config) => ['dlq', 'stream', ...(config.broker.mode === 'embedded' ? ['broker'] : [])],
    create: (ctx) => {
      const c = ctx.config.ingest;
      const putSeconds = new Histogram({
        name: 'edgeloop_ingest_stream_put_seconds',
        help: 'Latency of Stream.put calls made by the ingest.',
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        registers: [ctx.registry],
      });
      const putRecords = new Histogram({
        name: 'edgeloop_ingest_batch_records',
        help: 'Records per Stream.put.',
        buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
        registers: [ctx.registry],
      });
      const ingest = new Ingest({
        stream: ctx.instance<Stream>('stream')!,
        dlq: ctx.instance<SqliteDlq>('dlq')!,
        dedupPath: ctx.paths.dedup,
        topicPrefix: ctx.config.topicPrefix,
        maxPayloadBytes: c.maxPayloadBytes,
        maxBatchRecords: c.maxBatchRecords,
        maxBatchBytes: c.maxBatchBytes,
        lingerMs: c.lingerMs,
        maxInFlightPuts: c.maxInFlightPuts,
        maxPendingRecords: c.maxPendingRecords,
        dedupMaxIntervals: c.dedup.maxIntervals,
        dedupMaxDevices: c.dedup.maxDevices,
        recoverFromStream: c.recoverFromStream ?? ctx.config.stream.kind === 'local',
        clock: ctx.clock,
        logger: ctx.logger.child({ part: 'ingest' }),
        onPut: ({ records, ms }) => {
          putSeconds.observe(ms / 1000);
          putRecords.observe(records);
        },
      });
      registerIngestMetrics(ctx.registry, ingest);
      const ext = ctx.config.broker.mode === 'external' ? ctx.config.broker.external! : undefined;
      const client = ext
        ? new MqttIngestClient({
            url: ext.url,
            username: ext.username,
            password: ext.password,
            clientId: ext.clientId,
            ca: readPem(ext.caFile, 'CA file'),
            cert: readPem(ext.certFile, 'certificate file'),
            key: readPem(ext.keyFile, 'key file'),
            sharedGroup: ext.sharedGroup,
            connections: ext.connections,
            sessionExpirySeconds: ext.sessionExpirySeconds,
            protocolVersion: ext.protocolVersion,
            connectTimeoutMs: ext.connectTimeoutMs,
            topicPrefix: ctx.config.topicPrefix,
            ingest,
            logger: ctx.logger.child({ part: 'ingest-client' }),
          })
        : undefined;
      return {
        name: 'ingest',
        instance: ingest,
        client,
        start: async () => {
          await ingest.start();
          await client?.start();
        },
        close: async () => {
          // stop intake first (unacknowledged messages stay with the broker), then flush what was accepted
          await client?.close();
          await ingest.close();
        },
        health: () => {
          const s = ingest.stats();
          const cs = client?.stats();
          return {
            ok: !ingest.closed && (!cs || cs.connected === cs.connections),
            pendingRecords: s.pendingRecords,
            readings: s.readings,
            deadLetters: s.deadLetters,
            ...(cs ? { connections: cs.connections, connected: cs.connected } : {}),
          };
        },
      } satisfies CloudPart & { client: MqttIngestClient | undefined };
    },
  },
  {
    name: 'broker',
    requires: () => ['dlq'],
    enabled: (config) => config.broker.mode === 'embedded',
    create: (ctx) => {
      const c = ctx.config.broker.embedded;
      const hook = new IngestHook();
      const dlq = ctx.instance<SqliteDlq>('dlq')!;
      const broker = new EmbeddedBroker({
        host: c.host,
        port: c.port,
        tls: c.tls
          ? { port: c.tls.port, cert: c.tls.certFile, key: c.tls.keyFile, ca: c.tls.caFile, requireClientCert: c.tls.requireClientCert }
          : undefined,
        ...(c.credentialsFile ? { credentials: loadCredentialsFile(c.credentialsFile) } : {}),
        allowAnonymous: c.allowAnonymous,
        insecure: c.insecure,
        loginRateLimit: c.loginRateLimit,
        requireClientIdMatch: c.requireClientIdMatch,
        requireRegisteredDevices: c.requireRegisteredDevices,
        unauthorizedPublish: c.unauthorizedPublish,
        drainTimeoutMs: c.drainTimeoutMs,
        topicPrefix: ctx.config.topicPrefix,
        ingest: ctx.selected.has('ingest') ? hook : undefined,
        onRefused: (d) => dlq.add(d),
        logger: ctx.logger.child({ part: 'broker' }),
      });
      registerBrokerMetrics(ctx.registry, broker);
      return {
        name: 'broker',
        instance: broker,
        start: async () => {
          hook.ingest = ctx.instance<Ingest>('ingest');
          await broker.start();
        },
        close: async () => {
          await broker.close();
          hook.ingest = undefined;
        },
        health: () => ({ ok: broker.url !== undefined || broker.tlsUrl !== undefined, ...broker.stats() }),
      };
    },
  },
  {
    name: 'processor',
    requires: () => ['stream', 'feature-store'],
    create: async (ctx) => {
      const { Processor } = (await importPart('processor', './processor/processor.ts')) as typeof import('./processor/processor.ts');
      const lag = new Histogram({
        name: 'edgeloop_processor_feature_lag_seconds',
        help: 'Device timestamp of the newest reading to feature-store write.',
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers: [ctx.registry],
      });
      const off = ctx.config.featureStore.offline;
      let offline: { start(): Promise<void>; close(): Promise<void>; append(...a: never[]): unknown } | undefined;
      if (off.enabled && ctx.config.featureStore.kind === 'sqlite') {
        const { ParquetOfflineStore } = await import('./feature-store/parquet-offline-store.ts');
        offline = new ParquetOfflineStore({
          dir: ctx.paths.offline,
          flushRows: off.flushRows,
          flushIntervalMs: off.flushIntervalMs,
          clock: ctx.clock,
          logger: ctx.logger.child({ part: 'offline-store' }),
        });
      }
      const user = ctx.config.processor as Record<string, unknown>;
      const userHook = user.onFeatureWrite as ((i: { lagMs: number | undefined }) => void) | undefined;
      const processor = new Processor({
        ...(user as object),
        stream: ctx.instance<Stream>('stream')!,
        store: ctx.instance<FeatureStore>('feature-store')!,
        ...(offline ? { offlineStore: offline as never } : {}),
        clock: ctx.clock,
        logger: ctx.logger.child({ part: 'processor' }),
        onFeatureWrite: (info) => {
          if (info.lagMs !== undefined) lag.observe(Math.max(0, info.lagMs) / 1000);
          userHook?.(info);
        },
      });
      new Counter({
        name: 'edgeloop_processor_loop_errors_total',
        help: 'Errors in the processor loop (retried).',
        registers: [ctx.registry],
        collect() {
          this.reset();
          this.inc(processor.stats().loopErrors);
        },
      });
      return {
        name: 'processor',
        instance: processor,
        offline,
        start: async () => {
          await offline?.start();
          await processor.start();
        },
        close: async () => {
          // the processor flushes into the offline store while closing: close it first
          await processor.close();
          await offline?.close();
        },
        health: () => ({ ok: true, lagMs: processor.stats().lagMs }),
      } satisfies CloudPart & { offline: unknown };
    },
  },
  {
    name: 'registry',
    enabled: (config) => config.registry !== undefined,
    create: async (ctx) => {
      const mod = (await importPart('registry', './registry/registry-part.ts')) as typeof import('./registry/registry-part.ts');
      const cfg = mod.parseRegistryPartConfig({ dataDir: join(ctx.paths.dataDir, 'registry'), ...ctx.config.registry }, 'registry (cloud config)');
      return mod.createRegistryPart(cfg, { logger: ctx.logger, clock: ctx.clock });
    },
  },
  {
    name: 'recommend',
    requires: () => ['feature-store'],
    enabled: (config) => config.recommend !== undefined,
    create: async (ctx) => {
      const mod = (await importPart('recommend', './recommend/recommend-part.ts')) as typeof import('./recommend/recommend-part.ts');
      return mod.recommendPartDef(ctx.config.recommend ?? {}).create(ctx);
    },
  },
  {
    name: 'rollout',
    enabled: (config) => config.rollout !== undefined,
    create: async (ctx) => {
      const mod = (await importPart('rollout', './rollout/rollout-part.ts')) as typeof import('./rollout/rollout-part.ts');
      const given = (ctx.config.rollout ?? {}) as { mqtt?: Record<string, unknown> };
      const broker = ctx.instance<EmbeddedBroker>('broker');
      let mqtt: Record<string, unknown>;
      if (ctx.config.broker.mode === 'external') mqtt = { url: ctx.config.broker.external?.url, ...given.mqtt };
      else if (broker && given.mqtt?.username === undefined) {
        // the embedded broker gives its own in-process parts a service identity: no credentials file entry needed
        const clientId = String(given.mqtt?.clientId ?? 'edgeloop-rollout');
        mqtt = { url: broker.url, clientId, ...(await broker.addInProcessService(clientId)), ...given.mqtt };
      } else mqtt = { ...(broker ? { url: broker.url } : {}), ...given.mqtt };
      const cfg = mod.parseRolloutPartConfig(
        { dataDir: ctx.paths.dataDir, topicPrefix: ctx.config.topicPrefix, ...given, mqtt },
        'rollout (cloud config)',
      );
      const reg = ctx.part('registry') as (CloudPart & { health(): PartHealth & { url?: string } }) | undefined;
      const registry = ctx.instance<{ registry: import('./registry/model-registry.ts').ModelRegistry }>('registry');
      return mod.createRolloutPart(cfg, {
        logger: ctx.logger,
        clock: ctx.clock,
        ...(registry && reg ? { registry: { registry: registry.registry, artifactBaseUrl: () => String(reg.health().url ?? '') } } : {}),
      });
    },
  },
];

const HTTP_PART: PartDef = {
  name: 'http',
  create: async (ctx) => {
    const { default: Fastify } = await import('fastify');
    const app = Fastify({ logger: false });
    let cloudHealth: () => { ok: boolean; parts: Record<string, PartHealth> } = () => ({ ok: false, parts: {} });
    app.get('/healthz', async (_req, reply) => {
      const h = cloudHealth();
      return reply.code(h.ok ? 200 : 503).send({ status: h.ok ? 'ok' : 'degraded', parts: h.parts });
    });
    app.get('/metrics', async (_req, reply) => {
      const body = await ctx.registry.metrics();
      return reply.header('content-type', ctx.registry.contentType).send(body);
    });
    const part: CloudPart & { url: string | undefined; bindHealth(fn: typeof cloudHealth): void } = {
      name: 'http',
      instance: app,
      url: undefined,
      bindHealth(fn) {
        cloudHealth = fn;
      },
      start: async () => {
        await app.listen({ host: ctx.config.http.host, port: ctx.config.http.port });
        const addr = app.server.address();
        const port = typeof addr === 'object' && addr ? addr.port : ctx.config.http.port;
        const host = ctx.config.http.host === '0.0.0.0' || ctx.config.http.host === '::' ? '127.0.0.1' : ctx.config.http.host;
        part.url = `http://${host}:${port}`;
      },
      close: async () => {
        await app.close();
      },
    };
    return part;
  },
};

async function importPart(part: string, spec: string): Promise<unknown> {
  try {
    return await import(spec);
  } catch (cause) {
    throw new EdgeloopError('EL_ERR_CLOUD_PART', `part "${part}" is not available in this build (${(cause as Error).message})`, { cause });
  }
}

function registerIngestMetrics(registry: Registry, ingest: Ingest): void {
  const counter = (name: string, help: string, pick: (s: ReturnType<Ingest['stats']>) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(pick(ingest.stats()));
      },
    });
  };
  const gauge = (name: string, help: string, pick: (s: ReturnType<Ingest['stats']>) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick(ingest.stats()));
      },
    });
  };
  counter('edgeloop_ingest_messages_total', 'MQTT messages seen by the ingest.', (s) => s.messages);
  counter('edgeloop_ingest_readings_total', 'New readings put into the stream.', (s) => s.readings);
  counter('edgeloop_ingest_events_total', 'New events put into the stream.', (s) => s.events);
  counter('edgeloop_ingest_dedup_hits_total', 'Records dropped as duplicates of (deviceId, seq).', (s) => s.duplicateRecords);
  counter('edgeloop_ingest_duplicate_messages_total', 'Messages whose every record was a duplicate.', (s) => s.duplicateMessages);
  counter('edgeloop_ingest_dead_letters_total', 'Messages the ingest sent to the DLQ.', (s) => s.deadLetters);
  counter('edgeloop_ingest_stream_puts_total', 'Successful Stream.put calls.', (s) => s.puts);
  counter('edgeloop_ingest_stream_put_failures_total', 'Stream.put batches refused after retries.', (s) => s.putFailures);
  gauge('edgeloop_ingest_pending_records', 'Records accepted but not yet in the stream.', (s) => s.pendingRecords);
  gauge('edgeloop_ingest_lag_seconds', 'Ingest time minus the device sentAt of the last telemetry/events message.', (s) => s.lastLagMs / 1000);
  gauge('edgeloop_ingest_dedup_devices', 'Devices whose dedup state is in memory.', (s) => s.dedupDevices);
}

function registerBrokerMetrics(registry: Registry, broker: EmbeddedBroker): void {
  const keys = [
    ['messagesIn', 'edgeloop_broker_messages_in_total', 'PUBLISH packets received from clients.'],
    ['messagesOut', 'edgeloop_broker_messages_out_total', 'Messages forwarded to subscribers.'],
    ['bytesIn', 'edgeloop_broker_bytes_in_total', 'Payload bytes received.'],
    ['authFailures', 'edgeloop_broker_auth_failures_total', 'Refused connections (authentication).'],
    ['refusedPublishes', 'edgeloop_broker_refused_publishes_total', 'Unauthorised publishes (dead-lettered).'],
    ['refusedSubscriptions', 'edgeloop_broker_refused_subscriptions_total', 'Unauthorised subscriptions (SUBACK 0x80).'],
    ['ingestRefusals', 'edgeloop_broker_ingest_refusals_total', 'Messages not acknowledged because the ingest could not store them.'],
    ['loginsRateLimited', 'edgeloop_broker_logins_rate_limited_total', 'Connections refused unchecked: their address or username was locked out.'],
    ['loginLockouts', 'edgeloop_broker_login_lockouts_total', 'Addresses or usernames locked out after repeated failed logins.'],
    ['protocolRefusals', 'edgeloop_broker_protocol_refusals_total', 'CONNECTs refused for their protocol (MQTT 5, empty client id with CleanSession=0).'],
  ] as const;
  for (const [key, name, help] of keys) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(broker.stats()[key]);
      },
    });
  }
  new Gauge({ name: 'edgeloop_broker_connected_clients', help: 'Connected MQTT clients.', registers: [registry], collect() { this.set(broker.stats().connectedClients); } });
  new Gauge({ name: 'edgeloop_broker_connected_devices', help: 'Connected devices.', registers: [registry], collect() { this.set(broker.stats().connectedDevices); } });
}

/** Which parts run: `only` plus everything they require, in definition order. */
export function selectParts(defs: readonly PartDef[], config: CloudConfig, only?: readonly string[]): PartDef[] {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const applicable = (d: PartDef): boolean => d.enabled?.(config) ?? true;
  const chosen = new Set<string>();
  if (!only || only.length === 0) {
    for (const d of defs) if (applicable(d)) chosen.add(d.name);
  } else {
    const visit = (name: string, from: string | undefined): void => {
      const d = byName.get(name);
      if (!d) {
        throw new EdgeloopError('EL_ERR_CLOUD_PART', `unknown part "${name}"${from ? ` (required by ${from})` : ''}; known parts: ${[...byName.keys()].join(', ')}`);
      }
      if (!applicable(d)) {
        if (from) return; // e.g. ingest requires the embedded broker only in embedded mode
        throw new EdgeloopError('EL_ERR_CLOUD_PART', `part "${name}" does not apply to this configuration (broker.mode is ${config.broker.mode})`);
      }
      if (chosen.has(name)) return;
      chosen.add(name);
      for (const r of d.requires?.(config) ?? []) visit(r, name);
    };
    for (const n of only) visit(n, undefined);
  }
  return defs.filter((d) => chosen.has(d.name));
}

export function createCloud(config: CloudConfig, deps: CloudDeps = {}): Cloud {
  const logger = deps.logger ?? silentLogger;
  const clock = deps.clock ?? systemClock;
  const registry = deps.registry ?? new Registry();
  const paths = cloudPaths(config, deps.cwd);
  // an extra part with a built-in part's name replaces it in place (keeping the start order)
  const extra = new Map((deps.extraParts ?? []).map((d) => [d.name, d]));
  const defs: PartDef[] = [...CLOUD_PARTS.map((d) => extra.get(d.name) ?? d), ...[...extra.values()].filter((d) => !CLOUD_PARTS.some((b) => b.name === d.name))];
  if (config.http.enabled) defs.push(HTTP_PART);
  const overrides = new Map<string, unknown>();
  if (deps.stream) overrides.set('stream', deps.stream);
  if (deps.featureStore) overrides.set('feature-store', deps.featureStore);
  const only = config.only && config.only.length > 0 ? [...config.only, ...(config.http.enabled ? ['http'] : [])] : undefined;
  const selectedDefs = selectParts(defs, config, only);
  const selected = new Set(selectedDefs.map((d) => d.name));
  const parts = new Map<string, CloudPart>();
  const started: CloudPart[] = [];
  let state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  const urls: CloudUrls = {};

  const ctx: PartContext = {
    config,
    paths,
    logger,
    clock,
    registry,
    selected,
    part: (name) => parts.get(name),
    instance: <T>(name: string) => parts.get(name)?.instance as T | undefined,
  };

  const close = async (): Promise<void> => {
    if (state === 'closed') return;
    state = 'closed';
    const errors: unknown[] = [];
    for (const p of started.splice(0).reverse()) {
      try {
        await p.close();
        logger.debug({ part: p.name }, 'part closed');
      } catch (err) {
        errors.push(err);
        logger.error({ part: p.name, err }, 'part failed to close');
      }
    }
    if (errors.length > 0) throw errors[0];
  };

  const cloud: Cloud = {
    parts,
    urls,
    registry,
    async start() {
      if (state !== 'new') throw new EdgeloopError('EL_ERR_CLOSED', `cloud cannot start: it is ${state}`);
      state = 'starting';
      if (!deps.registry) collectDefaultMetrics({ register: registry, prefix: 'edgeloop_process_' });
      try {
        for (const d of selectedDefs) {
          let part: CloudPart;
          const override = overrides.get(d.name) as { start(): Promise<void>; close(): Promise<void> } | undefined;
          if (override) {
            // injected instances are owned by the caller: started here if needed, but not closed
            part = { name: d.name, instance: override, start: () => override.start(), close: async () => {} };
          } else {
            try {
              part = await d.create(ctx);
            } catch (err) {
              if (err instanceof EdgeloopError) throw err;
              throw new EdgeloopError('EL_ERR_CLOUD_PART', `part "${d.name}" could not be built: ${(err as Error).message}`, { cause: err });
            }
          }
          parts.set(d.name, part);
          await part.start();
          started.push(part);
          logger.info({ part: d.name }, 'part started');
        }
      } catch (err) {
        await close().catch(() => {});
        throw err;
      }
      const broker = parts.get('broker')?.instance as EmbeddedBroker | undefined;
      urls.mqtt = broker?.url;
      urls.mqtts = broker?.tlsUrl;
      const http = parts.get('http') as { url?: string; bindHealth?: (fn: () => ReturnType<Cloud['health']>) => void } | undefined;
      urls.http = http?.url;
      state = 'started';
      http?.bindHealth?.(() => cloud.health());
    },
    close,
    health() {
      const out: Record<string, PartHealth> = {};
      let ok = state === 'started';
      for (const [name, p] of parts) {
        const h = p.health?.() ?? { ok: state === 'started' };
        out[name] = h;
        ok &&= h.ok;
      }
      return { ok, parts: out };
    },
  };
  return cloud;
}
