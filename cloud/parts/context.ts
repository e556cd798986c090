/**
 * What every cloud part is built from: the validated config, where its files go, and the process's logger, clock
 * and metrics registry. One context per cloud process (cloud/create-cloud.ts makes it).
 */
import type { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { PartHealth } from '../../lib/parts.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { cloudPaths, CloudConfig } from '../config.ts';
import type { DriftEvent } from '../drift/drift-store.ts';
import type { RetrainEvent } from '../retrain/retrainer.ts';
import type { RolloutOutcome } from '../rollout/rollout-view.ts';

/**
 * What parts announce to each other inside one cloud process: the drift part's state changes, the retraining
 * job's outcome (the rollout side consumes `retrain.candidate`), how each rollout ended (the retraining history). Listeners are called synchronously; a part that
 * does slow work on an event queues it.
 */
export interface CloudEventMap {
  'drift.detected': [event: DriftEvent];
  'drift.cleared': [event: DriftEvent];
  'retrain.candidate': [event: RetrainEvent];
  'retrain.rejected': [event: RetrainEvent];
  /** a candidate the rollout side could not start a rollout for */
  'rollout.candidate-failed': [event: { model: string; version: string; reason: string; at: number }];
  /** how a rollout ended (completed, aborted, rolled back), with the reason and its gates */
  'rollout.ended': [outcome: RolloutOutcome];
}
export type CloudEvents = EventEmitter<CloudEventMap>;

/**
 * What a cloud part provides: a handle on the component behind it (`instance`: the Ingest, the LocalStream, ...)
 * with the lifecycle the part gives it, plus anything else it exposes (a URL, a client). `edgeloop cloud`,
 * `edgeloop up` and tests read parts through these handles.
 */
export interface CloudPart<T = unknown> {
  readonly name: string;
  readonly instance: T;
  start(): Promise<void>;
  close(): Promise<void>;
  health?(): PartHealth;
}

/** The handle of a component whose own start()/close() are its lifecycle. */
export function simplePart<T extends { start(): unknown; close(): unknown }>(
  name: string,
  instance: T,
  health?: () => PartHealth,
): CloudPart<T> {
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

export interface CloudContext {
  readonly config: CloudConfig;
  readonly paths: ReturnType<typeof cloudPaths>;
  readonly logger: Logger;
  readonly clock: Clock;
  /** prom-client registry behind /metrics */
  readonly registry: Registry;
  /** the cloud's event bus (createCloud makes one) */
  readonly events?: CloudEvents | undefined;
  /** the whole cloud's health (for /healthz); valid once the cloud has started */
  health(): { ok: boolean; parts: Record<string, PartHealth> };
}

/** Load a part's module lazily (optional backends, heavier parts), naming the part when the build lacks it. */
export async function importPart<T>(part: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (cause) {
    throw new EdgeloopError(
      'EL_ERR_CLOUD_PART',
      `part "${part}" is not available in this build (${(cause as Error).message})`,
      { cause },
    );
  }
}
