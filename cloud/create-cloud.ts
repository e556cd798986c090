/**
 * The cloud process's wiring: the parts named in config (cloud/parts/), composed with the part kernel
 * (lib/parts.ts): started in dependency order, closed in reverse, health reported. `edgeloop cloud` and
 * `edgeloop up` both use it. Parts are picked by name only here, at the edge (`only`, `extraParts`); inside, parts
 * name what they need by reference.
 */
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { EdgeloopError } from '../protocol/errors.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import { System, type InstanceOf, type PartHealth } from '../lib/parts.ts';
import type { Stream } from './stream/stream.ts';
import type { FeatureStore } from './feature-store/feature-store.ts';
import { cloudPaths, type CloudConfig } from './config.ts';
import { collectProcessMetrics } from './http/metrics.ts';
import {
  ALSO_RUNS,
  brokerPart,
  CLOUD_PARTS,
  featureStorePart,
  httpPart,
  streamPart,
  type CloudPartDefinition,
} from './parts/index.ts';
import type { CloudContext, CloudEventMap, CloudPart } from './parts/context.ts';

export { CLOUD_PARTS } from './parts/index.ts';
export type { CloudContext, CloudEventMap, CloudEvents, CloudPart } from './parts/context.ts';
export type { PartHealth } from '../lib/parts.ts';

export interface CloudDeps {
  logger?: Logger;
  clock?: Clock;
  /** prom-client registry for /metrics; a new one by default */
  registry?: Registry;
  /** working directory that relative paths in config resolve against */
  cwd?: string;
  /** more part definitions, started after the default ones (before http); one named like a built-in part replaces it */
  extraParts?: readonly CloudPartDefinition[];
  /** a stream to use instead of building one (tests, custom backends); owned by the caller: started, not closed */
  stream?: Stream;
  featureStore?: FeatureStore;
  /** hold the process open while the cloud runs (a service process; not for tests or an embedding program) */
  keepAlive?: boolean;
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
  /** a part's handle, typed by its definition (`cloud.get(ingestPart).instance` is the Ingest) */
  get<P extends CloudPartDefinition>(def: P): InstanceOf<P>;
  find<P extends CloudPartDefinition>(def: P): InstanceOf<P> | undefined;
  readonly urls: CloudUrls;
  health(): { ok: boolean; parts: Record<string, PartHealth> };
  readonly registry: Registry;
  /** the parts' event bus: drift.detected / drift.cleared, retrain.candidate / retrain.rejected */
  readonly events: EventEmitter<CloudEventMap>;
}

/**
 * Which parts run: all that apply (or `only` and what they require, and what runs with them), in start order.
 * Unknown names and names that do not apply to this configuration are refused with EL_ERR_CLOUD_PART.
 */
export function selectParts(
  defs: readonly CloudPartDefinition[],
  config: CloudConfig,
  only?: readonly string[],
  cwd?: string,
): CloudPartDefinition[] {
  return [...resolve(defs, selectionContext(config, cwd), only).order];
}

function selectionContext(config: CloudConfig, cwd?: string): CloudContext {
  return {
    config,
    paths: cloudPaths(config, cwd),
    logger: silentLogger,
    clock: systemClock,
    registry: new Registry(),
    health: () => ({ ok: false, parts: {} }),
  };
}

function resolve(
  defs: readonly CloudPartDefinition[],
  ctx: CloudContext,
  only: readonly string[] | undefined,
  provided: ReadonlyArray<readonly [CloudPartDefinition, unknown]> = [],
  replace: ReadonlyArray<readonly [CloudPartDefinition, CloudPartDefinition]> = [],
) {
  let wanted: CloudPartDefinition[];
  if (!only || only.length === 0) wanted = [...defs];
  else {
    const byName = new Map(defs.map((d) => [d.name, d]));
    wanted = [];
    for (const name of only) {
      const d = byName.get(name);
      if (!d)
        throw new EdgeloopError(
          'EL_ERR_CLOUD_PART',
          `unknown part "${name}"; known parts: ${[...byName.keys()].join(', ')}`,
        );
      if (!d.enabled(ctx)) {
        throw new EdgeloopError(
          'EL_ERR_CLOUD_PART',
          `part "${name}" does not apply to this configuration (broker.mode is ${ctx.config.broker.mode})`,
        );
      }
      wanted.push(d, ...(ALSO_RUNS.get(d) ?? []).filter((x) => x.enabled(ctx)));
    }
  }
  // the kernel checks requirements, cycles and names and gives the start order; nothing is built yet
  const byName = new Map(defs.map((d) => [d.name, d]));
  const order = new System<CloudContext>({ parts: wanted, context: ctx, provided, replace }).names.map(
    (n) => byName.get(n)!,
  );
  return { order };
}

export function createCloud(config: CloudConfig, deps: CloudDeps = {}): Cloud {
  const logger = deps.logger ?? silentLogger;
  const clock = deps.clock ?? systemClock;
  const registry = deps.registry ?? new Registry();
  const paths = cloudPaths(config, deps.cwd);
  // an extra part with a built-in part's name replaces it in place (keeping the start order), also where other
  // parts require or use it
  const extra = new Map((deps.extraParts ?? []).map((d) => [d.name, d]));
  const defs: CloudPartDefinition[] = [
    ...CLOUD_PARTS.map((d) => extra.get(d.name) ?? d),
    ...[...extra.values()].filter((d) => !CLOUD_PARTS.some((b) => b.name === d.name)),
  ];
  const replace = CLOUD_PARTS.filter((d) => extra.has(d.name)).map((d) => [d, extra.get(d.name)!] as const);
  // drift → retrain → rollout: parts announce to each other on one bus per cloud
  const events = new EventEmitter<CloudEventMap>();
  const ctx: CloudContext = { config, paths, logger, clock, registry, events, health: () => cloud.health() };
  const provided: Array<readonly [CloudPartDefinition, unknown]> = [];
  // injected components are owned by the caller: started with the cloud, never closed by it
  if (deps.stream)
    provided.push([
      streamPart,
      {
        name: 'stream',
        instance: deps.stream,
        start: () => deps.stream!.start(),
        close: async () => {},
      } satisfies CloudPart,
    ]);
  if (deps.featureStore)
    provided.push([
      featureStorePart,
      {
        name: 'feature-store',
        instance: deps.featureStore,
        start: () => deps.featureStore!.start(),
        close: async () => {},
      } satisfies CloudPart,
    ]);
  const only = config.only && config.only.length > 0 ? config.only : undefined;
  const selected = resolve(defs, ctx, only, provided, replace);
  // /healthz and /metrics come last, after the extra parts too, so that they report on everything
  const all = config.http.enabled ? [...selected.order, httpPart] : selected.order;
  const system = new System<CloudContext>({
    parts: all,
    context: ctx,
    provided,
    replace,
    keepAlive: deps.keepAlive ?? false,
    onEvent: (e) => {
      if (e.event === 'started') logger.info({ part: e.part }, 'part started');
      else if (e.event === 'closed') logger.debug({ part: e.part }, 'part closed');
      else logger.error({ part: e.part, err: e.error }, 'part failed to close');
    },
  });
  const parts = new Map<string, CloudPart>();
  const urls: CloudUrls = {};

  const cloud: Cloud = {
    parts,
    urls,
    registry,
    events,
    get: (def) => system.get(def),
    find: (def) => system.find(def),
    async start() {
      if (system.state !== 'new') throw new EdgeloopError('EL_ERR_CLOSED', `cloud cannot start: it is ${system.state}`);
      if (!deps.registry) collectProcessMetrics(registry, 'edgeloop_process_');
      try {
        await system.start();
      } finally {
        for (const d of all) {
          const p = system.find(d) as CloudPart | undefined;
          if (p) parts.set(d.name, p);
        }
      }
      const broker = system.find(brokerPart);
      urls.mqtt = broker?.instance.url;
      urls.mqtts = broker?.instance.tlsUrl;
      urls.http = config.http.enabled ? system.find(httpPart)?.url : undefined;
    },
    close: () => system.close(),
    health() {
      const h = system.health();
      return { ok: h.ok, parts: h.parts };
    },
  };
  return cloud;
}
