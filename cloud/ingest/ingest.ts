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
import {
  decodeDeviceMessage,
  encodeMessage,
  MAX_MQTT_PAYLOAD_BYTES,
  stripUnknownFields,
  type DeviceMessage,
} from '../../protocol/messages.ts';
import { Topics, type ParsedTopic } from '../../protocol/topics.ts';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import type { RetryPolicy } from '../../lib/backoff.ts';
import { retry } from '../../lib/retry.ts';
import { LatencyWindow } from '../../lib/stats.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { Stream, StreamRecord } from '../stream/stream.ts';
import type { DeadLetterInput } from '../dlq/sqlite-dlq.ts';
import { SeqDeduplicator } from './seq-deduplicator.ts';
import { SqliteDedupStore } from './sqlite-dedup-store.ts';
import { badTimeBound, DEFAULT_TIME_BOUNDS, splitByTimeBounds, type TimeBounds } from './time-bounds.ts';

/** Where refused messages go (SqliteDlq implements it). Must commit synchronously. */
export interface DeadLetterSink {
  add(d: DeadLetterInput): number;
}

export interface IngestOptions {
  stream: Stream;
  dlq: DeadLetterSink;
  /** SQLite file for the persisted dedup state; ':memory:' disables persistence (tests only) */
  dedupPath: string;
  topicPrefix?: string;
  /** payloads above this are dead-lettered as oversized; bytes, default 131072 (AWS IoT Core's limit) */
  maxPayloadBytes?: number;
  /** records per Stream.put; default 500 (Kinesis PutRecords' limit) */
  maxBatchRecords?: number;
  /** bytes per Stream.put; default 1 MiB (smaller puts keep the group-commit latency low) */
  maxBatchBytes?: number;
  /** wait this long for a batch to fill when no put is in flight; ms, default 0 (group commit only) */
  lingerMs?: number;
  /** concurrent Stream.put calls; default 1 (keeps per-device order; raise for Kinesis) */
  maxInFlightPuts?: number;
  /** records accepted but not yet put before accept() waits (backpressure to publishers); default 20000 */
  maxPendingRecords?: number;
  /** open seq gaps kept per device; default 64 */
  dedupMaxIntervals?: number;
  /** devices whose dedup state stays in memory (others reload from SQLite); default 100000 */
  dedupMaxDevices?: number;
  /** retry of a failed Stream.put before the batch is refused; maxAttempts counts puts; default 5 attempts, 50 ms .. 2 s */
  putRetry?: Partial<RetryPolicy>;
  /**
   * Rebuild dedup state from the stream's tail at start (records put after the recovery checkpoint), closing the
   * window between a stream commit and the dedup commit that a kill -9 can hit. Costs one extra read of the
   * stream (data not decoded) every recoveryCheckpointMs. Default true; turn off for Kinesis (read quota).
   */
  recoverFromStream?: boolean;
  /** how often the recovery checkpoint advances, ms; default 5000 */
  recoveryCheckpointMs?: number;
  /**
   * Device timestamps accepted around the arrival time (ms ahead / behind); readings and events outside go to the
   * dead-letter store as `ts-out-of-range`. Default 5 minutes ahead, 7 days behind; Infinity turns a bound off.
   */
  timeBounds?: Partial<TimeBounds>;
  clock?: Clock;
  logger?: Logger;
  /** observer for each successful put (metrics) */
  onPut?: (info: { records: number; bytes: number; ms: number }) => void;
}

export type IngestOutcome = 'stored' | 'duplicate' | 'dead-letter' | 'ignored';

export interface AcceptInput {
  topic: string;
  payload: Uint8Array;
  clientId?: string | undefined;
}

export interface IngestStats {
  messages: number;
  stored: number;
  readings: number;
  events: number;
  duplicateRecords: number;
  duplicateMessages: number;
  deadLetters: number;
  ignored: number;
  /** messages stored without the fields the protocol does not define */
  strippedMessages: number;
  puts: number;
  putFailures: number;
  pendingRecords: number;
  inFlightPuts: number;
  dedupDevices: number;
  collapsedGaps: number;
  /** now - sentAt of the last telemetry/events message (device clock), ms */
  lastLagMs: number;
  putLatencyMs: Record<string, number>;
}

interface Run {
  deviceId: string;
  lo: number;
  hi: number;
}

interface Batch {
  records: StreamRecord[];
  bytes: number;
  runs: Run[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
  sealed: boolean;
}

const KNOWN = new Set([
  'stream', 'dlq', 'dedupPath', 'topicPrefix', 'maxPayloadBytes', 'maxBatchRecords', 'maxBatchBytes', 'lingerMs',
  'maxInFlightPuts', 'maxPendingRecords', 'dedupMaxIntervals', 'dedupMaxDevices', 'putRetry', 'clock', 'logger', 'onPut',
  'recoverFromStream', 'recoveryCheckpointMs', 'timeBounds',
]);

/** diagnostics_channel events (subscribe with `diagnostics_channel.subscribe(name, fn)`). */
export const INGEST_CHANNELS = {
  /** { records, bytes, ms } after each successful Stream.put */
  put: channel('edgeloop:ingest:put'),
  /** { records, error } when a batch is refused after retries */
  putFailed: channel('edgeloop:ingest:put-failed'),
  /** { reason, detail, topic, deviceId } for each dead-lettered message */
  deadLetter: channel('edgeloop:ingest:dead-letter'),
} as const;

/** Stream consumer name under which the ingest keeps its dedup-recovery checkpoints. */
export const DEDUP_RECOVERY_CONSUMER = 'edgeloop-ingest-dedup';

export class Ingest {
  readonly topics: Topics;
  readonly #o: {
    maxPayloadBytes: number;
    maxBatchRecords: number;
    maxBatchBytes: number;
    lingerMs: number;
    maxInFlightPuts: number;
    maxPendingRecords: number;
    dedupMaxDevices: number;
  };
  readonly #stream: Stream;
  readonly #dlq: DeadLetterSink;
  readonly #store: SqliteDedupStore | undefined;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #retry: Partial<RetryPolicy>;
  readonly #onPut: IngestOptions['onPut'];
  readonly #recover: boolean;
  readonly #recoveryMs: number;
  readonly #timeBounds: TimeBounds;
  #recoveryTimer: TimerHandle | undefined;
  #recoveryTick: Promise<void> | undefined;
  /** per shard: position reached by the last follow tick (checkpointed one tick later) */
  readonly #followPos = new Map<string, string | undefined>();
  /** state including records in batches not yet put */
  readonly #working: SeqDeduplicator;
  /** state of records known to be in the stream (what is persisted) */
  readonly #committed: SeqDeduplicator;
  /** per device: the newest batch holding some of its records, while unsettled */
  readonly #pendingByDevice = new Map<string, Batch>();
  readonly #ready: Batch[] = [];
  #current: Batch | undefined;
  #inFlight = 0;
  #pendingRecords = 0;
  #spaceWaiters: Array<() => void> = [];
  #linger: TimerHandle | undefined;
  #scheduled = false;
  #started = false;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
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
    for (const k of Object.keys(opts)) {
      if (!KNOWN.has(k)) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `Ingest: unknown option "${k}"`);
    }
    if (!opts.stream) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'Ingest: stream is required');
    if (!opts.dlq) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'Ingest: dlq is required');
    if (!opts.dedupPath) throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', 'Ingest: dedupPath is required');
    const o = {
      maxPayloadBytes: opts.maxPayloadBytes ?? MAX_MQTT_PAYLOAD_BYTES,
      maxBatchRecords: opts.maxBatchRecords ?? 500,
      maxBatchBytes: opts.maxBatchBytes ?? 1024 * 1024,
      lingerMs: opts.lingerMs ?? 0,
      maxInFlightPuts: opts.maxInFlightPuts ?? 1,
      maxPendingRecords: opts.maxPendingRecords ?? 20_000,
      dedupMaxDevices: opts.dedupMaxDevices ?? 100_000,
    };
    for (const [k, v] of Object.entries(o)) {
      const min = k === 'lingerMs' ? 0 : 1;
      if (!Number.isFinite(v) || v < min) {
        throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `Ingest: ${k} must be a number >= ${min}, got ${v}`);
      }
    }
    this.#o = Object.freeze(o);
    this.topics = new Topics(opts.topicPrefix);
    this.#stream = opts.stream;
    this.#dlq = opts.dlq;
    this.#store = opts.dedupPath === ':memory:' ? undefined : new SqliteDedupStore({ path: opts.dedupPath });
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? silentLogger;
    this.#retry = { minMs: 50, maxMs: 2000, maxAttempts: 5, ...opts.putRetry };
    this.#onPut = opts.onPut;
    this.#recover = opts.recoverFromStream ?? true;
    this.#recoveryMs = opts.recoveryCheckpointMs ?? 5000;
    const badBound = badTimeBound(opts.timeBounds ?? {});
    if (badBound) {
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `Ingest: timeBounds.${badBound} must be a number >= 0 (ms) or Infinity`);
    }
    this.#timeBounds = Object.freeze({ ...DEFAULT_TIME_BOUNDS, ...opts.timeBounds });
    const maxIntervals = opts.dedupMaxIntervals ?? 64;
    this.#working = new SeqDeduplicator({ maxIntervals });
    this.#committed = new SeqDeduplicator({ maxIntervals });
  }

  async start(): Promise<void> {
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'Ingest is closed');
    if (this.#started) return;
    this.#store?.start();
    if (this.#recover) {
      await this.#recoverFromStream();
      this.#scheduleRecoveryTick();
    }
    this.#started = true;
  }

  /** Records recovered into the dedup state at the last start (tests, logs). */
  recoveredRecords = 0;

  async #recoverFromStream(): Promise<void> {
    const touched = new Set<string>();
    let n = 0;
    // an empty dedup store (first start, or the file was deleted) is rebuilt from the oldest record in the stream:
    // read under a consumer name that never checkpoints; otherwise from the recovery checkpoint
    const rebuild = !this.#store || this.#store.deviceCount() === 0;
    const readAs = rebuild ? `${DEDUP_RECOVERY_CONSUMER}:rebuild` : DEDUP_RECOVERY_CONSUMER;
    for (const shardId of await this.#stream.listShards()) {
      let position: string | undefined;
      let last: string | undefined;
      for (;;) {
        const b = await this.#stream.read(shardId, { consumer: readAs, position, limit: 1000 });
        for (const r of b.records) {
          n++;
          let m: { deviceId?: unknown; type?: unknown; readings?: Array<{ seq: number }>; events?: Array<{ seq: number }> };
          try {
            m = JSON.parse(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString('utf8'));
          } catch {
            continue; // not written by this ingest
          }
          const items = m.type === 'telemetry' ? m.readings : m.type === 'events' ? m.events : undefined;
          if (typeof m.deviceId !== 'string' || !Array.isArray(items)) continue;
          this.#ensureLoaded(m.deviceId);
          for (const it of items) {
            if (typeof it?.seq !== 'number') continue;
            this.#working.addRange(m.deviceId, it.seq, it.seq);
            this.#committed.addRange(m.deviceId, it.seq, it.seq);
          }
          touched.add(m.deviceId);
        }
        if (b.records.length > 0) last = b.records[b.records.length - 1]!.sequenceNumber;
        if (b.records.length === 0 || b.endOfShard) break;
        position = b.position;
      }
      if (last !== undefined) {
        if (this.#store && touched.size > 0) {
          this.#store.saveMany([...touched].map((id) => [id, this.#committed.export(id)!]), this.#clock.now());
          touched.clear();
        }
        await this.#stream.checkpoint(DEDUP_RECOVERY_CONSUMER, shardId, last);
      }
      this.#followPos.set(shardId, last);
    }
    this.recoveredRecords = n;
    if (n > 0) this.#log.info({ records: n, rebuild }, 'dedup state recovered from the stream');
  }

  #scheduleRecoveryTick(): void {
    if (this.#closed) return;
    this.#recoveryTimer = this.#clock.setTimeout(() => {
      this.#recoveryTimer = undefined;
      this.#recoveryTick = this.#followTail().catch((err: unknown) => this.#log.warn({ err }, 'dedup recovery checkpoint failed'));
      void this.#recoveryTick.then(() => this.#scheduleRecoveryTick());
    }, this.#recoveryMs);
    this.#recoveryTimer.unref?.();
  }

  /**
   * Advance the recovery checkpoint to where the previous tick read up to: records that old had their dedup
   * state committed long ago (the gap is microseconds), so a restart only re-applies the last ticks' records.
   */
  async #followTail(): Promise<void> {
    for (const shardId of await this.#stream.listShards()) {
      const prev = this.#followPos.get(shardId);
      let position = prev;
      let last = prev;
      for (let i = 0; i < 100 && !this.#closed; i++) {
        const b = await this.#stream.read(shardId, { consumer: DEDUP_RECOVERY_CONSUMER, position, limit: 10_000 });
        if (b.records.length === 0) break;
        last = b.records[b.records.length - 1]!.sequenceNumber;
        position = b.position;
        if (b.endOfShard) break;
      }
      const cp = this.#checkpointable.get(shardId);
      if (cp !== undefined) await this.#stream.checkpoint(DEDUP_RECOVERY_CONSUMER, shardId, cp);
      this.#checkpointable.set(shardId, last);
      this.#followPos.set(shardId, last);
    }
  }

  readonly #checkpointable = new Map<string, string | undefined>();

  /** Stop intake, put what is pending, then close the dedup store. Does not close the stream or the DLQ. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#linger) this.#clock.clearTimeout(this.#linger);
    this.#linger = undefined;
    if (this.#recoveryTimer) this.#clock.clearTimeout(this.#recoveryTimer);
    this.#recoveryTimer = undefined;
    await this.#recoveryTick;
    // release backpressure waiters: their accept() rejects with EL_ERR_CLOSED
    for (const w of this.#spaceWaiters.splice(0)) w();
    this.#sealCurrent();
    this.#pump();
    while (this.#inFlight > 0 || this.#ready.length > 0) {
      await new Promise<void>((r) => this.#idleWaiters.push(r));
    }
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
      this.#deadLetter(msg, deviceId, 'oversized', 'EL_ERR_MESSAGE_TOO_LARGE',
        `payload is ${msg.payload.byteLength} bytes, over the ${this.#o.maxPayloadBytes}-byte limit`);
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
      this.#deadLetter({ ...msg, payload: split.kept ? encodeMessage(split.refused) : msg.payload }, deviceId, 'ts-out-of-range', 'EL_ERR_MESSAGE_INVALID',
        `${f.field}: ${f.ts} is outside the accepted range (arrival - ${b.maxPastMs} ms .. arrival + ${b.maxFutureMs} ms)`);
      if (!split.kept) return 'dead-letter';
      m = split.kept;
    }
    while (this.#pendingRecords >= this.#o.maxPendingRecords && !this.#closed) {
      await new Promise<void>((r) => this.#spaceWaiters.push(r));
    }
    if (this.#closed) throw new EdgeloopError('EL_ERR_CLOSED', 'Ingest is closed');
    return this.#enqueue(stripped.length > 0 || split.refused ? undefined : msg.payload, m, deviceId);
  }

  stats(): IngestStats {
    return {
      ...this.#s,
      pendingRecords: this.#pendingRecords,
      inFlightPuts: this.#inFlight,
      dedupDevices: this.#working.deviceCount,
      collapsedGaps: this.#working.collapsedGaps,
      putLatencyMs: this.#putLatency.snapshot([50, 95, 99]),
    };
  }

  /** Resolves when nothing is pending or in flight (tests, graceful handover). */
  async idle(): Promise<void> {
    this.#sealCurrent();
    this.#pump();
    while (this.#inFlight > 0 || this.#ready.length > 0 || this.#current) {
      await new Promise<void>((r) => this.#idleWaiters.push(r));
    }
  }

  #deadLetter(msg: AcceptInput, deviceId: string | undefined, reason: DeadLetterInput['reason'], code: string, detail: string): void {
    this.#dlq.add({ reason, code, detail, topic: msg.topic, clientId: msg.clientId, deviceId, payload: msg.payload });
    this.#s.deadLetters++;
    if (INGEST_CHANNELS.deadLetter.hasSubscribers) INGEST_CHANNELS.deadLetter.publish({ reason, detail, topic: msg.topic, deviceId });
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
      if (this.#pendingByDevice.has(id)) continue;
      this.#working.evict(id);
      this.#committed.evict(id);
      toDrop--;
    }
  }

  /** `payload` is the message's original encoding, or undefined when `m` was changed and must be re-encoded. */
  async #enqueue(payload: Uint8Array | undefined, m: DeviceMessage, deviceId: string): Promise<IngestOutcome> {
    let data: Uint8Array | undefined = payload;
    const runs: Run[] = [];
    let fresh = 0;
    if (m.type === 'telemetry' || m.type === 'events') {
      this.#ensureLoaded(deviceId);
      const items: Array<{ seq: number }> = m.type === 'telemetry' ? m.readings : m.events;
      let kept: Array<{ seq: number }> = [];
      let run: Run | undefined;
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
        const pending = this.#pendingByDevice.get(deviceId);
        if (pending) await pending.promise;
        return 'duplicate';
      }
      if (dups > 0) {
        let minSeq = Infinity;
        for (const k of kept) if (k.seq < minSeq) minSeq = k.seq;
        const re = m.type === 'telemetry'
          ? { ...m, seq: minSeq, readings: kept as typeof m.readings }
          : { ...m, seq: minSeq, events: kept as typeof m.events };
        data = encodeMessage(re);
      }
    }
    data ??= encodeMessage(m);
    const batch = this.#batchFor(data.byteLength);
    batch.records.push({ partitionKey: deviceId, data });
    batch.bytes += data.byteLength;
    for (const r of runs) batch.runs.push(r);
    this.#pendingByDevice.set(deviceId, batch);
    this.#pendingRecords++;
    if (batch.records.length >= this.#o.maxBatchRecords || batch.bytes >= this.#o.maxBatchBytes) this.#sealCurrent();
    this.#schedule();
    await batch.promise;
    // counted once the stream holds them
    this.#s.stored++;
    if (m.type === 'telemetry') this.#s.readings += fresh;
    else if (m.type === 'events') this.#s.events += fresh;
    return 'stored';
  }

  #batchFor(bytes: number): Batch {
    const cur = this.#current;
    if (cur && cur.bytes + bytes > this.#o.maxBatchBytes && cur.records.length > 0) this.#sealCurrent();
    if (!this.#current) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // a batch nobody awaits any more (all callers gone) must not raise an unhandled rejection
      promise.catch(() => {});
      this.#current = { records: [], bytes: 0, runs: [], promise, resolve, reject, sealed: false };
    }
    return this.#current;
  }

  #sealCurrent(): void {
    const cur = this.#current;
    if (!cur) return;
    this.#current = undefined;
    if (cur.records.length === 0) return;
    cur.sealed = true;
    this.#ready.push(cur);
  }

  #schedule(): void {
    if (this.#ready.length > 0) {
      this.#pump();
      return;
    }
    if (this.#scheduled || this.#inFlight >= this.#o.maxInFlightPuts) return;
    if (this.#o.lingerMs > 0) {
      if (this.#linger) return;
      this.#linger = this.#clock.setTimeout(() => {
        this.#linger = undefined;
        this.#sealCurrent();
        this.#pump();
      }, this.#o.lingerMs);
      return;
    }
    // gather what arrives in this turn of the event loop (a socket chunk's packets) into one put
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#inFlight < this.#o.maxInFlightPuts) {
        this.#sealCurrent();
        this.#pump();
      }
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#o.maxInFlightPuts && this.#ready.length > 0) {
      const b = this.#ready.shift()!;
      this.#inFlight++;
      void this.#put(b);
    }
    if (this.#inFlight === 0 && this.#ready.length === 0 && !this.#current) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  async #put(b: Batch): Promise<void> {
    const t0 = performance.now();
    let err: unknown;
    let ok = false;
    try {
      // the wait between puts is a referenced timer: the callers' accept() awaits this put
      await retry(() => this.#stream.put(b.records), {
        policy: { ...this.#retry, maxAttempts: this.#retry.maxAttempts ?? 5 },
        retryable: () => !this.#closed,
        clock: this.#clock,
        onFailedAttempt: ({ error, attempt }) => this.#log.warn({ err: error, records: b.records.length, attempt }, 'stream put failed'),
      });
      ok = true;
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    if (ok) {
      // commit: records are in the stream → persist dedup state before anyone acknowledges
      const touched = new Set<string>();
      for (const r of b.runs) {
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
      this.#putLatency.record(ms);
      this.#onPut?.({ records: b.records.length, bytes: b.bytes, ms });
      if (INGEST_CHANNELS.put.hasSubscribers) INGEST_CHANNELS.put.publish({ records: b.records.length, bytes: b.bytes, ms });
    } else {
      this.#s.putFailures++;
      if (INGEST_CHANNELS.putFailed.hasSubscribers) INGEST_CHANNELS.putFailed.publish({ records: b.records.length, error: err });
      for (const r of b.runs) this.#working.removeRange(r.deviceId, r.lo, r.hi);
    }
    for (const r of b.records) {
      if (this.#pendingByDevice.get(r.partitionKey) === b) this.#pendingByDevice.delete(r.partitionKey);
    }
    this.#pendingRecords -= b.records.length;
    this.#inFlight--;
    if (ok) b.resolve();
    else {
      b.reject(new EdgeloopError('EL_ERR_INGEST_STREAM_PUT', `stream put of ${b.records.length} records failed: ${(err as Error)?.message}`, { cause: err }));
    }
    const waiters = this.#spaceWaiters.splice(0);
    for (const w of waiters) w();
    if (this.#current && this.#current.records.length > 0 && this.#ready.length === 0 && this.#o.lingerMs === 0) {
      this.#sealCurrent();
    }
    this.#pump();
    if (this.#current && this.#current.records.length > 0) this.#schedule();
  }
}

/** Why the body does not belong on this topic, or undefined when it does. */
function topicMismatch(t: ParsedTopic, m: DeviceMessage): string | undefined {
  const expected = t.kind === 'model-report' ? 'model-report' : t.kind;
  if (m.type !== expected) return `topic is for ${expected} messages, the message is ${m.type}`;
  if (m.deviceId !== t.deviceId) return `topic is for device ${t.deviceId}, the message says deviceId ${m.deviceId}`;
  return undefined;
}
