/**
 * OutboxIntake: the write side of the outbox (see sqlite-outbox.ts for the policy). Readings are buffered in
 * columns for `intakeLingerMs` or `intakeMaxRows` rows and committed in one transaction; events are committed at
 * once; both take seqs from the one counter, advanced and persisted in the transaction holding the rows, under the
 * seq high-water mark. Admission: the free-space budget first (disk-guard.ts), then the byte bound, met by deleting
 * the oldest telemetry in the same transaction, or refused with EL_ERR_OUTBOX_FULL (counted).
 */
import type Database from 'better-sqlite3';
import { EdgeloopError } from '../../protocol/errors.ts';
import type { TimerHandle } from '../../lib/clock.ts';
import { fullDiskError } from './disk-guard.ts';
import { dropChannel, type OutboxCore } from './outbox-core.ts';
import type { OutboxEvent, OutboxReading, SeqRange } from './outbox-options.ts';
import { ROWS_PER_INSERT } from './outbox-schema.ts';

interface Pending {
  start: number;
  count: number;
  resolve: (r: SeqRange) => void;
  reject: (e: Error) => void;
}

export class OutboxIntake {
  readonly #c: OutboxCore;
  // intake buffer (columnar)
  #bufSensor: string[] = [];
  #bufTs: number[] = [];
  #bufValue: number[] = [];
  #bufLen = 0;
  #pending: Pending[] = [];
  #timer: TimerHandle | undefined;
  #params: unknown[] = new Array(ROWS_PER_INSERT * 4);
  #commitTx!: (n: number) => SeqRange;
  #eventsTx!: (events: OutboxEvent[]) => SeqRange;

  constructor(core: OutboxCore) {
    this.#c = core;
  }

  /** The database is open: its write transactions. */
  attach(db: Database.Database): void {
    this.#commitTx = db.transaction((n: number) => this.#commitRows(n));
    this.#eventsTx = db.transaction((events: OutboxEvent[]) => this.#commitEvents(events));
  }

  /** readings buffered in memory and not yet committed */
  get buffered(): number {
    return this.#bufLen;
  }

  /** See SqliteOutbox.append(). */
  append(readings: ArrayLike<OutboxReading>): Promise<SeqRange> {
    this.#c.dbOrThrow();
    const n = readings.length;
    if (n === 0) return Promise.resolve({ firstSeq: 0, lastSeq: 0 });
    for (let i = 0; i < n; i++) {
      const r = readings[i]!;
      this.#bufSensor.push(r.sensor);
      this.#bufTs.push(r.ts);
      this.#bufValue.push(r.value);
    }
    const start = this.#bufLen;
    this.#bufLen += n;
    const p = new Promise<SeqRange>((resolve, reject) => this.#pending.push({ start, count: n, resolve, reject }));
    if (this.#bufLen >= this.#c.options.intakeMaxRows) this.flush();
    else if (!this.#timer) this.#timer = this.#c.clock.setTimeout(() => this.flush(), this.#c.options.intakeLingerMs);
    return p;
  }

  /** Commit the intake buffer now (synchronously). */
  flush(): void {
    const c = this.#c;
    if (this.#timer) {
      c.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const n = this.#bufLen;
    if (n === 0 || !c.db) return;
    const pending = this.#pending;
    this.#pending = [];
    let range: SeqRange;
    try {
      const refusal = this.#diskRefusal(this.#bufferedBytes(), `${n} readings`);
      if (refusal) throw refusal;
      try {
        // a rolled-back transaction: re-read what memory mirrors (sensor ids, counters)
        range = c.write(() => this.#commitTx(n), c.m.restorer());
      } catch (err) {
        throw fullDiskError(err, c.options.path, `${n} readings`);
      }
    } catch (err) {
      this.#clearBuffer();
      if (isEdgeloopFull(err)) this.#countRefused(n);
      const e = err instanceof Error ? err : new Error(String(err));
      for (const p of pending) p.reject(e);
      return;
    }
    this.#clearBuffer();
    for (const p of pending)
      p.resolve({ firstSeq: range.firstSeq + p.start, lastSeq: range.firstSeq + p.start + p.count - 1 });
    c.notify();
  }

  /** Closing: no more timer, and the callers of what was not committed are told so. */
  stop(): void {
    if (this.#timer) this.#c.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const p of this.#pending) p.reject(new EdgeloopError('EL_ERR_CLOSED', 'outbox closed'));
    this.#pending = [];
  }

  /** accounted bytes of the intake buffer (an unknown sensor counts with its name's length) */
  #bufferedBytes(): number {
    const m = this.#c.m;
    let bytes = 0;
    for (let i = 0; i < this.#bufLen; i++) bytes += m.readingBytes(this.#bufSensor[i]!);
    return bytes;
  }

  /**
   * The free-space budget: EL_ERR_OUTBOX_FULL when admitting `bytes` would leave the volume with less than
   * minFreeBytes (free pages inside the file count as free). Re-creates a missing reserve when there is room.
   */
  #diskRefusal(bytes: number, what: string): EdgeloopError | undefined {
    const c = this.#c;
    const disk = c.disk;
    if (!disk) return undefined;
    const reusableBytes = (c.st.freelistPages.get() as number) * c.pageSize;
    const refusal = disk.refusal(bytes, reusableBytes, what);
    if (!refusal && !c.reserveOk) c.reserveOk = disk.ensureReserve();
    return refusal;
  }

  #countRefused(n: number): void {
    const c = this.#c;
    c.m.refusedPending += n;
    if (dropChannel.hasSubscribers) dropChannel.publish({ reason: 'refused', count: n });
    try {
      c.st.putMeta.run('refused', c.m.refused);
      c.m.refusalsStored();
    } catch {
      /* the disk is full: stored with the next write that succeeds */
    }
  }

  /** Inside a transaction: seqs up to `last` are about to be used; the high-water mark must cover them. */
  #coverSeq(last: number): void {
    const c = this.#c;
    if (c.hwm?.cover(last)) {
      c.st.putMeta.run('seq_ceiling', c.hwm.ceiling);
      c.m.dbCeiling = c.hwm.ceiling;
    }
  }

  #clearBuffer(): void {
    this.#bufSensor.length = 0;
    this.#bufTs.length = 0;
    this.#bufValue.length = 0;
    this.#bufLen = 0;
  }

  #sensorId(name: string): number {
    const m = this.#c.m;
    let id = m.sensorIds.get(name);
    if (id === undefined) {
      id = Number(this.#c.st.insertSensor.run(name).lastInsertRowid);
      m.registerSensor(id, name);
    }
    return id;
  }

  /** inside the transaction */
  #commitRows(n: number): SeqRange {
    const c = this.#c;
    const m = c.m;
    const st = c.st;
    c.storeRefusals();
    const sensors = this.#bufSensor;
    const tss = this.#bufTs;
    const vals = this.#bufValue;
    const ids = new Array<number>(n);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const id = this.#sensorId(sensors[i]!);
      ids[i] = id;
      bytes += m.sensorBytes[id]!;
    }
    this.#makeRoom(bytes, false);
    const first = m.seq + 1;
    this.#coverSeq(first + n - 1);
    st.insertMark.run(first, c.clock.now());
    let i = 0;
    const params = this.#params;
    for (; i + ROWS_PER_INSERT <= n; i += ROWS_PER_INSERT) {
      for (let j = 0; j < ROWS_PER_INSERT; j++) {
        const k = j * 4;
        params[k] = first + i + j;
        params[k + 1] = ids[i + j];
        params[k + 2] = tss[i + j];
        params[k + 3] = vals[i + j];
      }
      st.insertN.run(params);
    }
    for (; i < n; i++) st.insert1.run(first + i, ids[i], tss[i], vals[i]);
    m.seq = first + n - 1;
    st.setMeta.run(m.seq, 'seq');
    m.telemetryCount += n;
    m.telemetryBytes += bytes;
    return { firstSeq: first, lastSeq: m.seq };
  }

  /**
   * Delete oldest telemetry until `bytes` more fit under maxBytes. Throws EL_ERR_OUTBOX_FULL (rolling back the
   * transaction) when even all telemetry would not make room; `forEvents` only changes the message.
   */
  #makeRoom(bytes: number, forEvents: boolean): void {
    const c = this.#c;
    const m = c.m;
    const max = c.options.maxBytes;
    const over = m.telemetryBytes + m.eventBytes + bytes - max;
    if (over <= 0) return;
    if (m.eventBytes + bytes > max) {
      throw new EdgeloopError(
        'EL_ERR_OUTBOX_FULL',
        `outbox is full: ${m.eventCount} events (${m.eventBytes} bytes) are waiting and events are never dropped; ` +
          `${forEvents ? 'new events' : 'new telemetry'} (${bytes} bytes) refused until the outbox drains (maxBytes ${max})`,
        { details: { maxBytes: max, eventBytes: m.eventBytes, bytes } },
      );
    }
    let freed = 0;
    let dropped = 0;
    let upTo = 0;
    let after = 0;
    while (freed < over) {
      const rows = c.st.oldestTelemetry.all(after) as [number, number][];
      if (rows.length === 0) break;
      for (const [seq, id] of rows) {
        freed += m.sensorBytes[id]!;
        dropped++;
        upTo = seq;
        if (freed >= over) break;
      }
      after = upTo;
    }
    c.st.delTelemetryUpTo.run(upTo);
    m.dropEpoch++;
    m.telemetryCount -= dropped;
    m.telemetryBytes -= freed;
    m.dropsBytes += dropped;
    c.st.setMeta.run(m.dropsBytes, 'drops_bytes');
    if (dropChannel.hasSubscribers && dropped > 0) dropChannel.publish({ reason: 'bytes', count: dropped });
  }

  /** See SqliteOutbox.appendEvents(). */
  appendEvents(events: OutboxEvent[]): SeqRange {
    const c = this.#c;
    c.dbOrThrow();
    if (events.length === 0) return { firstSeq: 0, lastSeq: 0 };
    // telemetry buffered before these events gets the smaller seqs
    this.flush();
    const what = `${events.length} events`;
    let r: SeqRange;
    try {
      const refusal = this.#diskRefusal(
        events.reduce((b, e) => b + JSON.stringify(e).length, 0),
        what,
      );
      if (refusal) throw refusal;
      try {
        r = c.write(() => this.#eventsTx(events), c.m.restorer());
      } catch (err) {
        throw fullDiskError(err, c.options.path, what);
      }
    } catch (err) {
      if (isEdgeloopFull(err)) this.#countRefused(events.length);
      throw err;
    }
    c.notify();
    return r;
  }

  #commitEvents(events: OutboxEvent[]): SeqRange {
    const c = this.#c;
    const m = c.m;
    c.storeRefusals();
    const first = m.seq + 1;
    const bodies: string[] = [];
    let total = 0;
    for (let i = 0; i < events.length; i++) {
      const body = JSON.stringify({ ...events[i], seq: first + i });
      bodies.push(body);
      total += Buffer.byteLength(body);
    }
    this.#makeRoom(total, true);
    this.#coverSeq(first + events.length - 1);
    c.st.insertMark.run(first, c.clock.now());
    for (let i = 0; i < events.length; i++) {
      c.st.insertEvent.run(first + i, events[i]!.ts, Buffer.byteLength(bodies[i]!), bodies[i]);
    }
    m.seq = first + events.length - 1;
    c.st.setMeta.run(m.seq, 'seq');
    m.eventCount += events.length;
    m.eventBytes += total;
    return { firstSeq: first, lastSeq: m.seq };
  }

  /** See SqliteOutbox.reserveSeq(). */
  reserveSeq(): number {
    const c = this.#c;
    c.dbOrThrow();
    this.flush();
    const db = c.db!;
    db.transaction(() => {
      this.#coverSeq(c.m.seq + 1);
      c.st.setMeta.run(c.m.seq + 1, 'seq');
    })();
    return ++c.m.seq;
  }
}

function isEdgeloopFull(err: unknown): boolean {
  return err instanceof EdgeloopError && err.code === 'EL_ERR_OUTBOX_FULL';
}
