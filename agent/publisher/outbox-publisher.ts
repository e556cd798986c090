/**
 * OutboxPublisher: drains the outbox to the transport. Events lane first, then telemetry; batches cut by count,
 * bytes (the whole message stays under the 128 KiB MQTT payload limit) and time (`lingerMs`: a partial telemetry
 * batch goes out once its oldest reading has waited this long); at most `maxInflight` batches awaiting PUBACK;
 * rows deleted only on PUBACK. When a publish fails (connection lost), the publisher waits for every in-flight
 * batch to settle, rewinds the outbox cursors and re-sends from the oldest remaining row after reconnect, so the
 * broker sees the records in seq order (duplicates of the same (deviceId, seq) are possible, never gaps).
 *
 * Outbox failures never escape as an exception or an unhandled rejection: when deleting acknowledged rows fails
 * (a full disk with no reserve left) or reading the next batch fails, the error is logged and kept in
 * `stats.lastError`, sending pauses for `retryMs`, and the rows still in the outbox are sent again (same seqs).
 */
import { channel } from 'node:diagnostics_channel';
import { EdgeloopError } from '../../protocol/errors.ts';
import { MAX_MQTT_PAYLOAD_BYTES, SCHEMA_VERSION } from '../../protocol/messages.ts';
import { Topics } from '../../protocol/topics.ts';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { Transport } from '../../transport/transport.ts';
import type { OutboxBatch, SqliteOutbox } from '../outbox/sqlite-outbox.ts';

export interface OutboxPublisherOptions {
  outbox: SqliteOutbox;
  transport: Transport;
  deviceId: string;
  topics?: Topics;
  /** readings per telemetry message, default 2000 */
  batchMaxRecords?: number;
  /** bytes per message (whole payload), default 120 KiB, at most 128 KiB */
  batchMaxBytes?: number;
  /** a partial telemetry batch waits at most this long, ms, default 200 */
  lingerMs?: number;
  /** batches awaiting PUBACK at once, default 8 */
  maxInflight?: number;
  /** pause after an outbox failure (ack or read) before sending again, ms, default 1000 */
  retryMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface PublisherStats {
  messages: number;
  telemetryRecords: number;
  eventRecords: number;
  publishErrors: number;
  /** acknowledged batches whose rows could not be deleted (sent again later), and failed batch reads */
  outboxErrors: number;
  inflight: number;
  lastError: string | undefined;
}

/** diagnostics_channel: `{ lane, firstSeq, lastSeq, count, bytes, ok, error? }` when a batch settles */
export const publishChannel = channel('edgeloop:agent:publish');

/** the envelope around the records array, with a 20-digit seq and sentAt: an upper bound of its size */
function envelopeBytes(deviceId: string): number {
  return (
    `{"v":1,"type":"telemetry","deviceId":${JSON.stringify(deviceId)},"seq":${'9'.repeat(20)},"sentAt":${'9'.repeat(20)},"readings":}`
      .length + 8
  );
}

export class OutboxPublisher {
  readonly #o: Required<Omit<OutboxPublisherOptions, 'logger' | 'clock' | 'topics'>>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #telemetryTopic: string;
  readonly #eventsTopic: string;
  readonly #headTelemetry: string;
  readonly #headEvents: string;
  readonly #recordBytes: number;
  #inflight = 0;
  readonly #pool: Buffer[] = [];
  #inflightTelemetryRows = 0;
  #broken = false;
  #started = false;
  #closed = false;
  #forced = false;
  #linger: TimerHandle | undefined;
  #lingerSince = 0;
  #unsubscribe: (() => void) | undefined;
  #idleWaiters: Array<() => void> = [];
  /** sending waits until then after an outbox failure */
  #pausedUntil = 0;
  #retry: TimerHandle | undefined;
  #stats: PublisherStats = {
    messages: 0,
    telemetryRecords: 0,
    eventRecords: 0,
    publishErrors: 0,
    outboxErrors: 0,
    inflight: 0,
    lastError: undefined,
  };
  readonly #onConnect = (): void => this.pump();

  constructor(opts: OutboxPublisherOptions) {
    const topics = opts.topics ?? new Topics();
    this.#o = {
      outbox: opts.outbox,
      transport: opts.transport,
      deviceId: opts.deviceId,
      batchMaxRecords: opts.batchMaxRecords ?? 2000,
      batchMaxBytes: opts.batchMaxBytes ?? 120 * 1024,
      lingerMs: opts.lingerMs ?? 200,
      maxInflight: opts.maxInflight ?? 4,
      retryMs: opts.retryMs ?? 1000,
    };
    if (this.#o.batchMaxBytes > MAX_MQTT_PAYLOAD_BYTES || this.#o.batchMaxBytes < 1024) {
      throw new EdgeloopError(
        'EL_ERR_INVALID_ARGUMENT',
        `batchMaxBytes must be between 1024 and ${MAX_MQTT_PAYLOAD_BYTES}, got ${this.#o.batchMaxBytes}`,
      );
    }
    if (!(this.#o.maxInflight >= 1) || !(this.#o.batchMaxRecords >= 1)) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'maxInflight and batchMaxRecords must be >= 1');
    }
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? silentLogger;
    this.#telemetryTopic = topics.telemetry(opts.deviceId);
    this.#eventsTopic = topics.events(opts.deviceId);
    const dev = JSON.stringify(opts.deviceId);
    this.#headTelemetry = `{"v":${SCHEMA_VERSION},"type":"telemetry","deviceId":${dev},"seq":`;
    this.#headEvents = `{"v":${SCHEMA_VERSION},"type":"events","deviceId":${dev},"seq":`;
    this.#recordBytes = this.#o.batchMaxBytes - envelopeBytes(opts.deviceId);
  }

  start(): void {
    if (this.#started) return;
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'publisher is closed');
    this.#started = true;
    this.#unsubscribe = this.#o.outbox.onChange(() => this.pump());
    this.#o.transport.on('connect', this.#onConnect);
    this.pump();
  }

  get stats(): PublisherStats {
    return { ...this.#stats, inflight: this.#inflight };
  }

  /** Send what can be sent now. Called on every outbox change, on connect and on ack. Never throws. */
  pump(): void {
    if (!this.#started || this.#closed) return;
    try {
      this.#pump();
    } catch (err) {
      this.#outboxFailed(err, 'reading the next batch from the outbox failed');
    }
  }

  #pump(): void {
    const { outbox, transport, maxInflight, batchMaxRecords } = this.#o;
    if (outbox.closed) return;
    if (this.#pausedUntil > this.#clock.now()) return;
    while (!this.#broken && transport.connected && this.#inflight < maxInflight) {
      let batch = outbox.nextBatch('events', batchMaxRecords, this.#recordBytes);
      if (!batch) {
        const unsent = outbox.telemetryCount - this.#inflightTelemetryRows;
        if (unsent <= 0) break;
        const ready = unsent >= batchMaxRecords || this.#forced || this.#lingerExpired();
        if (!ready) {
          this.#armLinger();
          break;
        }
        batch = outbox.nextBatch('telemetry', batchMaxRecords, this.#recordBytes);
        if (!batch) break;
        this.#lingerSince = 0;
      }
      this.#send(batch);
    }
    if (this.#inflight === 0) this.#settleIdle();
  }

  #lingerExpired(): boolean {
    if (this.#lingerSince === 0) return false;
    return this.#clock.now() - this.#lingerSince >= this.#o.lingerMs;
  }

  #armLinger(): void {
    if (this.#lingerSince === 0) this.#lingerSince = this.#clock.now();
    if (this.#linger) return;
    const wait = Math.max(0, this.#o.lingerMs - (this.#clock.now() - this.#lingerSince));
    this.#linger = this.#clock.setTimeout(() => {
      this.#linger = undefined;
      this.pump();
    }, wait);
    this.#linger.unref?.();
  }

  #send(batch: OutboxBatch): void {
    const telemetry = batch.lane === 'telemetry';
    const text = `${telemetry ? this.#headTelemetry : this.#headEvents}${batch.firstSeq},"sentAt":${this.#clock.now()},"${telemetry ? 'readings' : 'events'}":${batch.json}}`;
    // payload buffers are pooled (one per in-flight message): ~120 KiB per message would otherwise be garbage that
    // V8 collects late, inflating RSS. A buffer goes back to the pool only after its PUBACK: after a failure the
    // client library may still hold it, so it is left to the GC.
    const buf = this.#pool.pop() ?? Buffer.allocUnsafe(this.#o.batchMaxBytes + 1024);
    let payload: Buffer;
    let pooled = false;
    if (Buffer.byteLength(text) <= buf.length) {
      payload = buf.subarray(0, buf.write(text));
      pooled = true;
    } else {
      payload = Buffer.from(text);
      this.#pool.push(buf);
    }
    this.#inflight++;
    if (telemetry) this.#inflightTelemetryRows += batch.count;
    this.#o.transport
      .publish({ topic: telemetry ? this.#telemetryTopic : this.#eventsTopic, payload, qos: 1 })
      .then(
        () => {
          if (pooled && this.#pool.length < this.#o.maxInflight) this.#pool.push(buf);
          this.#stats.messages++;
          if (telemetry) this.#stats.telemetryRecords += batch.count;
          else this.#stats.eventRecords += batch.count;
          if (!this.#o.outbox.closed) {
            try {
              this.#o.outbox.ack(batch);
            } catch (err) {
              // the rows stay in the outbox: re-sent (same seqs) after the pause, once nothing is in flight
              this.#broken = true;
              this.#outboxFailed(
                err,
                'acknowledged rows could not be deleted from the outbox; they will be sent again',
              );
            }
          }
          if (publishChannel.hasSubscribers)
            publishChannel.publish({
              lane: batch.lane,
              firstSeq: batch.firstSeq,
              lastSeq: batch.lastSeq,
              count: batch.count,
              bytes: payload.length,
              ok: true,
            });
        },
        (err: unknown) => {
          this.#stats.publishErrors++;
          this.#stats.lastError = (err as Error)?.message ?? String(err);
          this.#broken = true;
          if (publishChannel.hasSubscribers)
            publishChannel.publish({
              lane: batch.lane,
              firstSeq: batch.firstSeq,
              lastSeq: batch.lastSeq,
              count: batch.count,
              bytes: payload.length,
              ok: false,
              error: err,
            });
          this.#log.warn(
            { err, firstSeq: batch.firstSeq, lane: batch.lane },
            'publish failed; will re-send from the outbox',
          );
        },
      )
      .catch((err: unknown) => this.#outboxFailed(err, 'publish bookkeeping failed'))
      .finally(() => {
        this.#inflight--;
        if (telemetry) this.#inflightTelemetryRows -= batch.count;
        if (this.#inflight === 0 && this.#broken) {
          this.#broken = false;
          if (!this.#o.outbox.closed) this.#o.outbox.rewind();
        }
        this.pump();
      });
  }

  /** An outbox failure: log it, keep it in the stats, pause sending for retryMs (then pump again). */
  #outboxFailed(err: unknown, msg: string): void {
    this.#stats.outboxErrors++;
    this.#stats.lastError = (err as Error)?.message ?? String(err);
    this.#log.error({ err }, msg);
    this.#pausedUntil = this.#clock.now() + this.#o.retryMs;
    if (this.#retry || this.#closed) return;
    this.#retry = this.#clock.setTimeout(() => {
      this.#retry = undefined;
      this.pump();
    }, this.#o.retryMs);
    this.#retry.unref?.();
  }

  #settleIdle(): void {
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const fn of w) fn();
  }

  /**
   * Send everything, partial batches included, and resolve once the outbox is empty (true) or `timeoutMs` has
   * passed (false). Records that arrive meanwhile are sent too.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    if (!this.#started || this.#closed) return this.#o.outbox.closed ? false : this.#empty();
    this.#forced = true;
    const deadline = this.#clock.now() + timeoutMs;
    try {
      for (;;) {
        if (this.#empty()) return true;
        const left = deadline - this.#clock.now();
        if (left <= 0) return false;
        await new Promise<void>((resolve) => {
          const clock = this.#clock;
          let settled = false;
          const done = (): void => {
            if (settled) return;
            settled = true;
            clock.clearTimeout(t);
            off();
            resolve();
          };
          const t = clock.setTimeout(done, Math.min(left, 50));
          const off = this.#o.outbox.onChange(done);
        });
        this.pump();
      }
    } finally {
      this.#forced = false;
    }
  }

  #empty(): boolean {
    const o = this.#o.outbox;
    return o.telemetryCount === 0 && o.eventCount === 0 && o.intakeBuffered === 0;
  }

  /** Stop sending; in-flight publishes settle on their own (their rows stay if unacknowledged). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#o.transport.off('connect', this.#onConnect);
    if (this.#linger) this.#clock.clearTimeout(this.#linger);
    this.#linger = undefined;
    if (this.#retry) this.#clock.clearTimeout(this.#retry);
    this.#retry = undefined;
  }
}
