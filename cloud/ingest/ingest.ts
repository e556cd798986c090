/**
 * Ingest: turns device MQTT messages into stream records, at least once and deduplicated.
 *
 *   accept(topic, payload) → size check → decode + validate (protocol/messages.ts) → topic/body agreement
 *     → per-record dedup on (deviceId, seq) → batch → Stream.put (partition key = deviceId) → resolve
 *
 * `accept()` resolves only when the message is durably handled: its new records are in the stream, or it was a
 * pure duplicate of records already in the stream, or it is in the dead-letter store. The caller acknowledges
 * upstream (MQTT PUBACK) only then, so a crash anywhere loses nothing: unacknowledged messages are redelivered
 * and the persisted dedup state drops what the stream already holds.
 *
 * The parts: decode + validate are pure (protocol/messages.ts, time-bounds.ts); dedup is SeqDeduplicator (working
 * state, and committed state persisted by SqliteDedupStore); batching with backpressure is StreamBatcher
 * (stream-batcher.ts: group commit, linger, in-flight puts, the pending-record bound); DedupRecovery
 * (dedup-recovery.ts) re-derives dedup state from the stream's tail at start; refused messages go to the
 * DeadLetterSink; the options and their check are in ingest-options.ts. This file composes them.
 *
 * Batching is group commit: while a put is in flight, accepted records gather in the next batch, which is put as
 * soon as the previous one completes (or when it reaches maxBatchRecords / maxBatchBytes). `lingerMs` > 0 waits
 * that long for a batch to fill when no put is in flight (fewer, larger puts; more latency).
 *
 * Stream records carry one device message each (JSON, the protocol encoding): the original payload when no record
 * in it was a duplicate, otherwise the message re-encoded with only its new readings/events (`seq` = the smallest
 * remaining). Status and model-report messages are state snapshots and are not deduplicated.
 */
import { channel } from 'node:diagnostics_channel';
import { EdgeloopError, isEdgeloopError } from '../../protocol/errors.ts';
import { decodeDeviceMessage, encodeMessage, stripUnknownFields, type DeviceMessage } from '../../protocol/messages.ts';
import { Topics, type ParsedTopic } from '../../protocol/topics.ts';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { LatencyWindow } from '../../lib/stats.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { DeadLetterInput } from '../dlq/sqlite-dlq.ts';
import {
  PUT_RETRY_DEFAULTS,
  resolveIngestOptions,
  type AcceptInput,
  type DeadLetterSink,
  type IngestOptions,
  type IngestOutcome,
  type IngestStats,
  type ResolvedIngestOptions,
} from './ingest-options.ts';
import { SeqDeduplicator } from './seq-deduplicator.ts';
import { SqliteDedupStore } from './sqlite-dedup-store.ts';
import { StreamBatcher, type SeqRun, type SettledPut } from './stream-batcher.ts';
import { DedupRecovery } from './dedup-recovery.ts';
import { splitByTimeBounds, type TimeBounds } from './time-bounds.ts';

export type { AcceptInput, DeadLetterSink, IngestOptions, IngestOutcome, IngestStats } from './ingest-options.ts';
export { DEDUP_RECOVERY_CONSUMER } from './dedup-recovery.ts';

/** diagnostics_channel events (subscribe with `diagnostics_channel.subscribe(name, fn)`). */
export const INGEST_CHANNELS = {
  /** { records, bytes, ms } after each successful Stream.put */
  put: channel('edgeloop:ingest:put'),
  /** { records, error } when a batch is refused after retries */
  putFailed: channel('edgeloop:ingest:put-failed'),
  /** { reason, detail, topic, deviceId } for each dead-lettered message */
  deadLetter: channel('edgeloop:ingest:dead-letter'),
} as const;

export class Ingest {
  readonly topics: Topics;
  readonly #o: ResolvedIngestOptions;
  readonly #dlq: DeadLetterSink;
  readonly #store: SqliteDedupStore | undefined;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #onPut: IngestOptions['onPut'];
  readonly #timeBounds: TimeBounds;
  readonly #batcher: StreamBatcher;
  /** undefined when recoverFromStream is off */
  readonly #recovery: DedupRecovery | undefined;
  /** state including records in batches not yet put */
  readonly #working: SeqDeduplicator;
  /** state of records known to be in the stream (what is persisted) */
  readonly #committed: SeqDeduplicator;
  #started = false;
  #closed = false;
  readonly #putLatency = new LatencyWindow(2048);
  readonly #s = {
    messages: 0,
    stored: 0,
    readings: 0,
    events: 0,
    duplicateRecords: 0,
    duplicateMessages: 0,
    deadLetters: 0,
    ignored: 0,
    strippedMessages: 0,
    puts: 0,
    putFailures: 0,
    lastLagMs: 0,
  };

  constructor(opts: IngestOptions) {
    const o = resolveIngestOptions(opts);
    this.#o = Object.freeze(o);
    this.topics = new Topics(o.topicPrefix);
    this.#dlq = o.dlq;
    this.#store = o.dedupPath === ':memory:' ? undefined : new SqliteDedupStore({ path: o.dedupPath });
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger;
    this.#onPut = o.onPut;
    this.#timeBounds = Object.freeze(o.timeBounds);
    this.#working = new SeqDeduplicator({ maxIntervals: o.dedupMaxIntervals });
    this.#committed = new SeqDeduplicator({ maxIntervals: o.dedupMaxIntervals });
    this.#batcher = new StreamBatcher({
      stream: o.stream,
      maxBatchRecords: o.maxBatchRecords,
      maxBatchBytes: o.maxBatchBytes,
      lingerMs: o.lingerMs,
      maxInFlightPuts: o.maxInFlightPuts,
      maxPendingRecords: o.maxPendingRecords,
      retry: { ...PUT_RETRY_DEFAULTS, ...o.putRetry },
      clock: this.#clock,
      logger: this.#log,
      onCommitted: (put) => this.#committedPut(put),
      onRefused: (put, error) => this.#refusedPut(put, error),
    });
    this.#recovery = o.recoverFromStream
      ? new DedupRecovery({
          stream: o.stream,
          store: this.#store,
          checkpointMs: o.recoveryCheckpointMs,
          clock: this.#clock,
          logger: this.#log,
          apply: (deviceId, seqs) => this.#applyRecovered(deviceId, seqs),
          committedState: (deviceId) => this.#committed.export(deviceId)!,
        })
      : undefined;
  }

  async start(): Promise<void> {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'Ingest is closed');
    if (this.#started) return;
    this.#store?.start();
    if (this.#recovery) this.recoveredRecords = await this.#recovery.start();
    this.#started = true;
  }

  /** Records recovered into the dedup state at the last start (tests, logs). */
  recoveredRecords = 0;

  #applyRecovered(deviceId: string, seqs: readonly number[]): void {
    this.#ensureLoaded(deviceId);
    for (const seq of seqs) {
      this.#working.addRange(deviceId, seq, seq);
      this.#committed.addRange(deviceId, seq, seq);
    }
  }

  /** Stop intake, put what is pending, then close the dedup store. Does not close the stream or the DLQ. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#batcher.stopIntake();
    await this.#recovery?.close();
    // releases the backpressure waiters (their accept() rejects with EL_ERR_CLOSED), then puts what is pending
    await this.#batcher.drain();
    this.#store?.close();
    this.#started = false;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Handle one message. Resolves when it may be acknowledged upstream; rejects (EL_ERR_INGEST_STREAM_PUT,
   * EL_ERR_CLOSED) when it must not be — the sender then redelivers it.
   */
  async accept(msg: AcceptInput): Promise<IngestOutcome> {
    if (this.#closed || !this.#started) {
      throw new EdgeloopError('EL_ERR_CLOSED', this.#closed ? 'Ingest is closed' : 'Ingest is not started');
    }
    this.#s.messages++;
    const parsed = this.topics.parse(msg.topic);
    if (!parsed || parsed.kind === 'model-desired' || parsed.deviceId === undefined) {
      this.#s.ignored++;
      return 'ignored';
    }
    const deviceId = parsed.deviceId;
    if (msg.payload.byteLength > this.#o.maxPayloadBytes) {
      this.#deadLetter(
        msg,
        deviceId,
        'oversized',
        'EL_ERR_MESSAGE_TOO_LARGE',
        `payload is ${msg.payload.byteLength} bytes, over the ${this.#o.maxPayloadBytes}-byte limit`,
      );
      return 'dead-letter';
    }
    let m: DeviceMessage;
    try {
      m = decodeDeviceMessage(msg.payload, this.#o.maxPayloadBytes);
    } catch (err) {
      const code = isEdgeloopError(err) ? err.code : 'EL_ERR_MESSAGE_INVALID';
      this.#deadLetter(msg, deviceId, 'malformed', code, (err as Error).message);
      return 'dead-letter';
    }
    const mismatch = topicMismatch(parsed, m);
    if (mismatch) {
      this.#deadLetter(msg, deviceId, 'topic-mismatch', 'EL_ERR_TOPIC_INVALID', mismatch);
      return 'dead-letter';
    }
    // what reaches the stream is the protocol's content: fields it does not define are dropped
    const stripped = stripUnknownFields(m);
    if (stripped.length > 0) {
      this.#s.strippedMessages++;
      this.#log.debug({ deviceId, fields: stripped }, 'unknown fields removed');
    }
    const split = splitByTimeBounds(m, this.#clock.now(), this.#timeBounds);
    if (split.refused) {
      const f = split.first!;
      const b = this.#timeBounds;
      this.#deadLetter(
        { ...msg, payload: split.kept ? encodeMessage(split.refused) : msg.payload },
        deviceId,
        'ts-out-of-range',
        'EL_ERR_MESSAGE_INVALID',
        `${f.field}: ${f.ts} is outside the accepted range (arrival - ${b.maxPastMs} ms .. arrival + ${b.maxFutureMs} ms)`,
      );
      if (!split.kept) return 'dead-letter';
      m = split.kept;
    }
    while (this.#batcher.full && !this.#closed) await this.#batcher.spaceFreed();
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'Ingest is closed');
    return this.#enqueue(stripped.length > 0 || split.refused ? undefined : msg.payload, m, deviceId);
  }

  stats(): IngestStats {
    return {
      ...this.#s,
      pendingRecords: this.#batcher.pendingRecords,
      inFlightPuts: this.#batcher.inFlightPuts,
      dedupDevices: this.#working.deviceCount,
      collapsedGaps: this.#working.collapsedGaps,
      putLatencyMs: this.#putLatency.snapshot([50, 95, 99]),
    };
  }

  /** Resolves when nothing is pending or in flight (tests, graceful handover). */
  idle(): Promise<void> {
    return this.#batcher.idle();
  }

  #deadLetter(
    msg: AcceptInput,
    deviceId: string | undefined,
    reason: DeadLetterInput['reason'],
    code: string,
    detail: string,
  ): void {
    this.#dlq.add({ reason, code, detail, topic: msg.topic, clientId: msg.clientId, deviceId, payload: msg.payload });
    this.#s.deadLetters++;
    if (INGEST_CHANNELS.deadLetter.hasSubscribers)
      INGEST_CHANNELS.deadLetter.publish({ reason, detail, topic: msg.topic, deviceId });
    this.#log.warn({ deviceId, topic: msg.topic, reason, detail }, 'message dead-lettered');
  }

  #ensureLoaded(deviceId: string): void {
    if (this.#working.has(deviceId)) return;
    const st = this.#store?.load(deviceId);
    if (st) {
      this.#working.import(deviceId, st);
      this.#committed.import(deviceId, st);
    }
    if (this.#working.deviceCount > this.#o.dedupMaxDevices) this.#evict();
  }

  #evict(): void {
    // drop the oldest-inserted devices that have nothing in flight; their committed state is in SQLite
    let toDrop = Math.ceil(this.#o.dedupMaxDevices * 0.1);
    for (const id of this.#working.deviceIds()) {
      if (toDrop <= 0) break;
      if (this.#batcher.hasPending(id)) continue;
      this.#working.evict(id);
      this.#committed.evict(id);
      toDrop--;
    }
  }

  /** `payload` is the message's original encoding, or undefined when `m` was changed and must be re-encoded. */
  async #enqueue(payload: Uint8Array | undefined, m: DeviceMessage, deviceId: string): Promise<IngestOutcome> {
    let data: Uint8Array | undefined = payload;
    const runs: SeqRun[] = [];
    let fresh = 0;
    if (m.type === 'telemetry' || m.type === 'events') {
      this.#ensureLoaded(deviceId);
      const items: Array<{ seq: number }> = m.type === 'telemetry' ? m.readings : m.events;
      let kept: Array<{ seq: number }> = [];
      let run: SeqRun | undefined;
      // fast path (the common case): ascending consecutive seqs, all above the device's highest seen seq
      const first = items[0]!.seq;
      const last = items[items.length - 1]!.seq;
      let fast = first > this.#working.highest(deviceId) && last - first === items.length - 1;
      for (let i = 1; fast && i < items.length; i++) fast = items[i]!.seq === first + i;
      if (fast) {
        this.#working.addRange(deviceId, first, last);
        runs.push({ deviceId, lo: first, hi: last });
        kept = items;
      }
      for (const it of fast ? [] : items) {
        const seq = it.seq;
        if (this.#working.seen(deviceId, seq)) continue;
        this.#working.addRange(deviceId, seq, seq);
        kept.push(it);
        if (run && seq === run.hi + 1) run.hi = seq;
        else {
          run = { deviceId, lo: seq, hi: seq };
          runs.push(run);
        }
      }
      fresh = kept.length;
      const dups = items.length - kept.length;
      this.#s.duplicateRecords += dups;
      this.#s.lastLagMs = this.#clock.now() - m.sentAt;
      if (kept.length === 0) {
        // every record is already in the stream or in a batch on its way: ack once that batch has settled
        this.#s.duplicateMessages++;
        const pending = this.#batcher.pendingFor(deviceId);
        if (pending !== undefined) await pending;
        return 'duplicate';
      }
      if (dups > 0) {
        let minSeq = Infinity;
        for (const k of kept) if (k.seq < minSeq) minSeq = k.seq;
        const re =
          m.type === 'telemetry'
            ? { ...m, seq: minSeq, readings: kept as typeof m.readings }
            : { ...m, seq: minSeq, events: kept as typeof m.events };
        data = encodeMessage(re);
      }
    }
    data ??= encodeMessage(m);
    await this.#batcher.add(deviceId, data, runs);
    // counted once the stream holds them
    this.#s.stored++;
    if (m.type === 'telemetry') this.#s.readings += fresh;
    else if (m.type === 'events') this.#s.events += fresh;
    return 'stored';
  }

  /** Records are in the stream: persist the dedup state before anyone acknowledges. */
  #committedPut(put: SettledPut): void {
    const touched = new Set<string>();
    for (const r of put.runs) {
      this.#committed.addRange(r.deviceId, r.lo, r.hi);
      touched.add(r.deviceId);
    }
    if (this.#store && touched.size > 0) {
      const states: Array<[string, { intervals: number[] }]> = [];
      for (const id of touched) states.push([id, this.#committed.export(id)!]);
      try {
        this.#store.saveMany(states, this.#clock.now());
      } catch (e) {
        // the records are safely in the stream; only a later restart could accept their resends again
        // (and recoverFromStream re-derives them): acknowledge, and say so loudly
        this.#log.error({ err: e, devices: touched.size }, 'dedup state could not be persisted');
      }
    }
    this.#s.puts++;
    this.#putLatency.record(put.ms);
    this.#onPut?.({ records: put.records, bytes: put.bytes, ms: put.ms });
    if (INGEST_CHANNELS.put.hasSubscribers)
      INGEST_CHANNELS.put.publish({ records: put.records, bytes: put.bytes, ms: put.ms });
  }

  /** The batch was refused: its seqs may come again. */
  #refusedPut(put: SettledPut, error: unknown): void {
    this.#s.putFailures++;
    if (INGEST_CHANNELS.putFailed.hasSubscribers) INGEST_CHANNELS.putFailed.publish({ records: put.records, error });
    for (const r of put.runs) this.#working.removeRange(r.deviceId, r.lo, r.hi);
  }
}

/** Why the body does not belong on this topic, or undefined when it does. */
function topicMismatch(t: ParsedTopic, m: DeviceMessage): string | undefined {
  const expected = t.kind === 'model-report' ? 'model-report' : t.kind;
  if (m.type !== expected) return `topic is for ${expected} messages, the message is ${m.type}`;
  if (m.deviceId !== t.deviceId) return `topic is for device ${t.deviceId}, the message says deviceId ${m.deviceId}`;
  return undefined;
}
