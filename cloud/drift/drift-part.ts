/**
 * driftPart: the drift monitors as a part of the cloud (lib/parts.ts). It opens the SQLite drift store, loads the
 * reference sets named in the configuration, registers the Prometheus metrics on the context's registry and runs
 * the DriftService; closing goes in reverse (service, store, metrics).
 *
 * The part needs no other part: the wiring feeds it. The processor's `onFeatureWrite` goes to
 * `observeFeatures`, the ingest's status and events messages to `observeStatus` / `observeEvents`, and a model
 * registered with a reference to `setReference` (see docs/drift.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { definePart, withLifecycle } from '../../lib/parts.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import { DriftService, type DriftServiceOptions } from './drift-service.ts';
import { registerDriftMetrics } from './metrics.ts';
import { parseReference } from './reference.ts';
import { SqliteDriftStore, SqliteDriftStoreOptionsSchema } from './sqlite-drift-store.ts';
import { DriftTuningSchema } from './drift-options.ts';
import { parseOptions } from '../../lib/options.ts';

/** The `drift:` config section: where the state lives, the reference sets, and the service's tuning (its defaults). */
export const DriftPartConfigSchema = DriftTuningSchema.extend({
  /** state directory: drift.db goes here unless dbPath is set */
  dataDir: z.string().min(1).default('./edgeloop-data'),
  dbPath: z.string().min(1).optional(),
  /** reference set files (JSON, schema edgeloop.drift-reference/1); the first is the default */
  references: z.array(z.string().min(1)).default([]),
  /** events kept in the drift store */
  maxEvents: SqliteDriftStoreOptionsSchema.shape.maxEvents,
});
export type DriftPartConfig = z.output<typeof DriftPartConfigSchema>;
export type DriftPartConfigInput = z.input<typeof DriftPartConfigSchema>;

/** What the part reads from the process context. */
export interface DriftPartContext {
  config: { drift?: DriftPartConfigInput | undefined };
  /** prom-client registry of the process's /metrics */
  metrics?: Registry | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  /** cohorts: site and hardware of a device */
  deviceInfo?: DriftServiceOptions['deviceInfo'];
  /** every drift state change (an alert sink, an MQTT publisher) */
  onDriftEvent?: DriftServiceOptions['onEvent'];
}

export function parseDriftPartConfig(input: unknown, source = 'drift config'): DriftPartConfig {
  return parseOptions(DriftPartConfigSchema, input ?? {}, {
    where: source,
    code: 'EL_ERR_DRIFT_CONFIG',
    prefix: ['drift'],
  });
}

export const driftPart = definePart({
  name: 'drift',
  enabled: (ctx: DriftPartContext) => ctx.config.drift !== undefined,
  create: (_needs, ctx: DriftPartContext) => {
    const c = parseDriftPartConfig(ctx.config.drift);
    const references = c.references.map((file) => {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (cause) {
        throw new EdgeloopError(
          'EL_ERR_DRIFT_REFERENCE',
          `drift.references: cannot read ${file}: ${(cause as Error).message}`,
          { cause },
        );
      }
      return parseReference(json, file);
    });
    const store = new SqliteDriftStore({ path: c.dbPath ?? join(c.dataDir, 'drift.db'), maxEvents: c.maxEvents });
    let service: DriftService | undefined;
    const metrics = ctx.metrics ? registerDriftMetrics(ctx.metrics, () => service) : undefined;
    service = new DriftService({
      store,
      intervalMs: c.intervalMs,
      alpha: c.alpha,
      correction: c.correction,
      statistic: c.statistic,
      replicates: c.replicates,
      policy: c.policy,
      minEffect: c.minEffect,
      maxSamples: c.maxSamples,
      maxCohortSamples: c.maxCohortSamples,
      maxDevices: c.maxDevices,
      maxWindowMs: c.maxWindowMs,
      persistEveryMs: c.persistEveryMs,
      deviceInfo: ctx.deviceInfo,
      onEvent: (e) => {
        metrics?.onEvent(e);
        ctx.onDriftEvent?.(e);
      },
      ...(ctx.clock ? { clock: ctx.clock } : {}),
      ...(ctx.logger ? { logger: ctx.logger.child({ part: 'drift' }) } : {}),
    });
    for (const r of references) service.setReference(r);
    const s = service;
    return withLifecycle(s, {
      start: async () => {
        await store.start();
        try {
          await s.start();
        } catch (err) {
          await store.close();
          throw err;
        }
      },
      close: async () => {
        try {
          await s.close();
          await store.close();
        } finally {
          metrics?.unregister();
        }
      },
      health: () => s.health(),
    });
  },
});
