/**
 * FeatureBatch: one step of the processor, shared by the long-running Processor and the Lambda handler.
 *
 *   records → decode (skip and count what is not a device message) → seed unknown devices from the store
 *     → aggregate → putMany(feature records of the touched devices) → alerts → offline append → lag
 *
 * The feature write is retried with backoff per the retry policy before process() rejects; the aggregator state is
 * updated once per record, so a retried write never counts a reading twice.
 */
import { DEFAULT_RETRY, type RetryPolicy } from '../../lib/backoff.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import { retry } from '../../lib/retry.ts';
import { LatencyWindow } from '../../lib/stats.ts';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { DeviceMessage } from '../../protocol/messages.ts';
import type { FeatureRecord, FeatureStore, FeatureValue } from '../feature-store/feature-store.ts';
import { AlertEvaluator, type Alert } from './alert-rules.ts';
import { decodeRecord } from './decode-record.ts';
import type { FeatureAggregator } from './feature-aggregator.ts';

/** Where feature records are appended for training and analytics (ParquetOfflineStore implements it). */
export interface OfflineSink {
  append(group: string, records: FeatureRecord[]): void | Promise<void>;
}

export interface FeatureWriteInfo {
  deviceId: string;
  eventTime: number;
  /** now minus the newest reading timestamp of this device in the batch: device time → feature update, ms */
  lagMs: number | undefined;
  written: boolean;
  features: Record<string, FeatureValue>;
}

export interface BatchItem {
  data: Uint8Array;
  /** when the stream accepted the record, ms */
  arrivedAt: number;
  /** for logs: shard and sequence number */
  id?: string;
}

export interface BatchResult {
  records: number;
  messages: number;
  invalidRecords: number;
  devices: number;
  written: number;
  /** records not written because the store held a newer one */
  stale: number;
  alerts: Alert[];
}

export interface FeatureBatchOptions {
  store: FeatureStore;
  group: string;
  aggregator: FeatureAggregator;
  alerts: AlertEvaluator;
  alertSink?: ((alert: Alert) => void | Promise<void>) | undefined;
  offline?: OfflineSink | undefined;
  onFeatureWrite?: ((info: FeatureWriteInfo) => void) | undefined;
  /** each decoded device message, before aggregation (drift monitors read status and events here) */
  onMessage?: ((msg: DeviceMessage) => void) | undefined;
  retry: Partial<RetryPolicy>;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  /** stop retrying when this returns true (the processor is closing) */
  stopped?: () => boolean;
  /** aborting it ends a wait between retries at once (the owner is closing); the retry then gives up */
  signal?: AbortSignal | undefined;
}

export interface FeatureBatchCounters {
  records: number;
  messages: number;
  invalidRecords: number;
  featureWrites: number;
  staleWrites: number;
  writeRetries: number;
  alertsFiring: number;
  alertsResolved: number;
  alertSinkErrors: number;
  offlineErrors: number;
}

export class FeatureBatch {
  readonly #o: FeatureBatchOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly lag = new LatencyWindow(4096);
  readonly counters: FeatureBatchCounters = {
    records: 0,
    messages: 0,
    invalidRecords: 0,
    featureWrites: 0,
    staleWrites: 0,
    writeRetries: 0,
    alertsFiring: 0,
    alertsResolved: 0,
    alertSinkErrors: 0,
    offlineErrors: 0,
  };

  constructor(opts: FeatureBatchOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? silentLogger;
  }

  /**
   * Retry `fn` per the policy; rejects with the last error when attempts run out or the owner stops. The policy's
   * maxAttempts counts retries (the first call is not one), lib/retry.ts counts calls: hence the + 1. The wait
   * between attempts is a referenced timer: process() is awaited on it, and inside the Lambda runtime an
   * unreferenced timer lets the event loop drain, which the runtime takes for a handler that returned nothing (a
   * success) while the write is still failing. An owner that closes aborts `signal` instead.
   */
  #retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const policy = { ...DEFAULT_RETRY, ...this.#o.retry };
    return retry(fn, {
      policy: { ...policy, maxAttempts: policy.maxAttempts + 1 },
      retryable: () => !this.#o.stopped?.(),
      clock: this.#clock,
      signal: this.#o.signal,
      onFailedAttempt: ({ error, attempt, delayMs }) => {
        if (delayMs === undefined) return;
        this.counters.writeRetries++;
        this.#log.warn({ err: error, attempt, delayMs }, `${what} failed; retrying`);
      },
    });
  }

  async process(items: BatchItem[]): Promise<BatchResult> {
    const res: BatchResult = {
      records: items.length,
      messages: 0,
      invalidRecords: 0,
      devices: 0,
      written: 0,
      stale: 0,
      alerts: [],
    };
    const decoded: { msg: DeviceMessage; arrivedAt: number }[] = [];
    for (const item of items) {
      const d = decodeRecord(item.data);
      if (d.errors.length > 0) {
        res.invalidRecords++;
        this.#log.warn(
          { record: item.id, errors: d.errors.slice(0, 3) },
          'stream record skipped: not a device message (EL_ERR_PROCESSOR_RECORD_INVALID)',
        );
      }
      for (const msg of d.messages) {
        decoded.push({ msg, arrivedAt: item.arrivedAt });
        this.#o.onMessage?.(msg);
      }
    }
    res.messages = decoded.length;
    this.counters.records += items.length;
    this.counters.messages += decoded.length;
    this.counters.invalidRecords += res.invalidRecords;
    if (decoded.length === 0) return res;

    const agg = this.#o.aggregator;
    const unknown = [...new Set(decoded.map((d) => d.msg.deviceId))].filter((id) => !agg.has(id));
    if (unknown.length > 0) {
      const stored = await this.#retry('feature store batchGet', () => this.#o.store.batchGet(this.#o.group, unknown));
      unknown.forEach((id, i) => agg.seed(id, stored[i]));
    }
    const newestReading = new Map<string, number>();
    for (const { msg, arrivedAt } of decoded) {
      agg.ingest(msg, arrivedAt);
      if (msg.type === 'telemetry') {
        let newest = newestReading.get(msg.deviceId) ?? -Infinity;
        for (const r of msg.readings) if (r.ts > newest) newest = r.ts;
        newestReading.set(msg.deviceId, newest);
      }
    }
    const records: FeatureRecord[] = [];
    for (const id of agg.takeDirty()) {
      const f = agg.features(id);
      if (f) records.push({ entityId: id, eventTime: f.eventTime, features: f.features });
    }
    res.devices = records.length;
    if (records.length === 0) return res;
    const outcomes = await this.#retry('feature store putMany', () => this.#o.store.putMany(this.#o.group, records));
    const now = this.#clock.now();
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const written = outcomes[i]?.written ?? false;
      if (written) res.written++;
      else res.stale++;
      const newest = newestReading.get(r.entityId);
      const lagMs = newest !== undefined && Number.isFinite(newest) ? now - newest : undefined;
      if (lagMs !== undefined && written) this.lag.record(lagMs);
      this.#o.onFeatureWrite?.({ deviceId: r.entityId, eventTime: r.eventTime, lagMs, written, features: r.features });
      if (!written) continue;
      for (const alert of this.#o.alerts.evaluate(r.entityId, r.eventTime, r.features)) res.alerts.push(alert);
    }
    this.counters.featureWrites += res.written;
    this.counters.staleWrites += res.stale;
    for (const alert of res.alerts) {
      if (alert.state === 'firing') this.counters.alertsFiring++;
      else this.counters.alertsResolved++;
      this.#log.info({ alert }, `alert ${alert.state}: ${alert.rule} on ${alert.deviceId}`);
      if (!this.#o.alertSink) continue;
      try {
        await this.#o.alertSink(alert);
      } catch (err) {
        this.counters.alertSinkErrors++;
        this.#log.error({ err, alert }, 'alert sink failed');
      }
    }
    if (this.#o.offline) {
      try {
        await this.#o.offline.append(this.#o.group, records);
      } catch (err) {
        this.counters.offlineErrors++;
        this.#log.error({ err }, 'offline store append failed');
      }
    }
    return res;
  }
}

export function assertNotClosed(closed: boolean, what: string): void {
  if (closed) throw new EdgeloopError('EL_ERR_CLOSED', `${what} is closed`);
}
