/**
 * ModelReporter: the updater's model reports (`received` … `active`, `failed`, `rolled-back`) on MQTT.
 *
 * Each report goes to the listeners at once and into a queue published in order at QoS 1; a report that cannot be
 * sent stays queued (bounded: the newest 100, oldest dropped) until `flush()` runs again on the next connection.
 */
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import {
  SCHEMA_VERSION,
  encodeMessage,
  type ModelDesiredMessage,
  type ModelReportMessage,
  type ModelReportState,
} from '../../protocol/messages.ts';
import type { Topics } from '../../protocol/topics.ts';
import type { Transport } from '../../transport/transport.ts';

export interface ModelReporterOptions {
  deviceId: string;
  transport: Transport;
  topics: Topics;
  clock: Clock;
  logger: Logger;
  /** the per-device sequence number of the next report */
  nextSeq: () => number;
}

const MAX_QUEUED = 100;

export class ModelReporter {
  readonly #o: ModelReporterOptions;
  readonly #pending: ModelReportMessage[] = [];
  readonly #listeners = new Set<(r: ModelReportMessage) => void>();
  #flushing = false;

  constructor(opts: ModelReporterOptions) {
    this.#o = opts;
  }

  /** Listen to every report (also when the publish could not be sent yet); returns the unsubscribe function. */
  onReport(listener: (r: ModelReportMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async report(name: string, desired: ModelDesiredMessage, state: ModelReportState, reason?: string): Promise<void> {
    const msg: ModelReportMessage = {
      v: SCHEMA_VERSION,
      type: 'model-report',
      deviceId: this.#o.deviceId,
      seq: this.#o.nextSeq(),
      ts: this.#o.clock.now(),
      model: name,
      version: desired.version,
      state,
      ...(reason !== undefined ? { reason: reason.slice(0, 1000) } : {}),
      ...(desired.rolloutId !== undefined ? { rolloutId: desired.rolloutId } : {}),
      ...(desired.role === 'shadow' ? { role: 'shadow' as const } : {}),
    };
    for (const l of this.#listeners) l(msg);
    this.#pending.push(msg);
    if (this.#pending.length > MAX_QUEUED) this.#pending.splice(0, this.#pending.length - MAX_QUEUED);
    await this.flush();
  }

  /** Publish queued reports in order; the ones that fail stay queued for the next call. */
  async flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      await this.#flushLoop();
    } finally {
      this.#flushing = false;
    }
  }

  async #flushLoop(): Promise<void> {
    while (this.#pending.length && this.#o.transport.connected) {
      const m = this.#pending[0]!;
      try {
        await this.#o.transport.publish({
          topic: this.#o.topics.modelReport(this.#o.deviceId),
          payload: encodeMessage(m),
          qos: 1,
        });
        if (this.#pending[0] === m) this.#pending.shift();
      } catch (err) {
        this.#o.logger.debug({ err }, 'report not sent; kept for the next connection');
        return;
      }
    }
  }
}
