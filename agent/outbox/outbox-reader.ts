/**
 * OutboxReader: the read side of the outbox (see sqlite-outbox.ts for the policy). Batches are cut per lane after
 * a cursor (rows handed out and not yet acknowledged are not handed out again until `rewind()`); an acknowledged
 * batch's rows are deleted in one transaction, by seq range, with the reserve file given back when the volume is
 * full; `prune()` applies the age bound; `stats()` reads the figures.
 */
import type Database from 'better-sqlite3';
import { EdgeloopError } from '../../protocol/errors.ts';
import { isDiskFull, type DiskGuard } from './disk-guard.ts';
import { dropChannel, type OutboxCore } from './outbox-core.ts';
import type { Lane, OutboxBatch, OutboxStats } from './outbox-options.ts';

export class OutboxReader {
  readonly #c: OutboxCore;
  #cursor = { events: 0, telemetry: 0 };
  #ackTx!: (b: OutboxBatch) => void;
  #pruneTx!: (cutoffSeq: number) => number;

  constructor(core: OutboxCore) {
    this.#c = core;
  }

  /** The database is open: its write transactions. */
  attach(db: Database.Database): void {
    this.#ackTx = db.transaction((b: OutboxBatch) => this.#ackRows(b));
    this.#pruneTx = db.transaction((cutoffSeq: number) => this.#dropTelemetryBelow(cutoffSeq));
  }

  /** See SqliteOutbox.nextBatch(). */
  nextBatch(lane: Lane, maxRecords: number, maxBytes: number): OutboxBatch | undefined {
    const c = this.#c;
    c.dbOrThrow();
    const m = c.m;
    const cursor = this.#cursor[lane];
    const parts: string[] = [];
    let jsonBytes = 2; // [ ]
    let bytes = 0;
    let first = 0;
    let last = 0;
    if (lane === 'telemetry') {
      const rows = c.st.selTelemetry.all(cursor, maxRecords) as string[];
      if (rows.length === 0) return undefined;
      const ascii = m.asciiNames;
      let n = 0;
      for (; n < rows.length; n++) {
        const r = rows[n]!;
        const add = (ascii ? r.length : Buffer.byteLength(r)) + (n > 0 ? 1 : 0);
        if (n > 0 && jsonBytes + add > maxBytes) break;
        jsonBytes += add;
      }
      if (n < rows.length) rows.length = n;
      first = seqOf(rows[0]!);
      last = seqOf(rows[n - 1]!);
      for (const [id, k] of c.st.sumTelemetryRange.all(first, last) as [number, number][])
        bytes += k * m.sensorBytes[id]!;
      this.#cursor.telemetry = last;
      return {
        lane,
        firstSeq: first,
        lastSeq: last,
        count: n,
        bytes,
        json: `[${rows.join(',')}]`,
        dropEpoch: m.dropEpoch,
      };
    } else {
      const rows = c.st.selEvents.all(cursor, maxRecords) as [number, number, string][];
      for (const [seq, b, body] of rows) {
        const add = b + (parts.length > 0 ? 1 : 0);
        if (parts.length > 0 && jsonBytes + add > maxBytes) break;
        parts.push(body);
        jsonBytes += add;
        bytes += b;
        if (first === 0) first = seq;
        last = seq;
      }
    }
    if (parts.length === 0) return undefined;
    this.#cursor[lane] = last;
    return {
      lane,
      firstSeq: first,
      lastSeq: last,
      count: parts.length,
      bytes,
      json: `[${parts.join(',')}]`,
      dropEpoch: m.dropEpoch,
    };
  }

  /** See SqliteOutbox.ack(). */
  ack(batch: OutboxBatch): void {
    const c = this.#c;
    if (!c.db) return;
    try {
      this.#ackOnce(batch);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      if (!c.disk?.releaseReserve()) {
        throw new EdgeloopError(
          'EL_ERR_OUTBOX_FULL',
          `outbox ${c.options.path}: acknowledged rows ${batch.firstSeq}..${batch.lastSeq} not deleted, the volume is full and the reserve is used up: ${(err as Error).message}`,
          { cause: err, details: { reason: 'disk' } },
        );
      }
      c.reserveOk = false;
      c.log.warn(
        { reservePath: c.disk.reservePath },
        'volume full: reserve file released so that acknowledged rows can be deleted',
      );
      // first move the WAL into the database file with the space just freed (it may need to grow for pages that
      // were only ever in the WAL); the WAL then restarts from its beginning instead of growing into that space
      c.checkpoint();
      this.#ackOnce(batch);
    }
    c.notify();
  }

  /** the delete; what memory mirrors is restored when the transaction rolls back */
  #ackOnce(batch: OutboxBatch): void {
    this.#c.write(() => this.#ackTx(batch), this.#c.m.restorer());
  }

  #ackRows(b: OutboxBatch): void {
    const c = this.#c;
    const m = c.m;
    const st = c.st;
    c.storeRefusals();
    if (b.lane === 'telemetry' && b.dropEpoch === m.dropEpoch) {
      // no drop since the batch was cut: its rows are all there (seqs are never reused), delete by range
      st.delTelemetryRange.run(b.firstSeq, b.lastSeq);
      m.telemetryCount -= b.count;
      m.telemetryBytes -= b.bytes;
    } else if (b.lane === 'telemetry') {
      // rows of the batch may have been dropped by the policy meanwhile: count what is really deleted
      let count = 0;
      let bytes = 0;
      for (const [id, n] of st.sumTelemetryRange.all(b.firstSeq, b.lastSeq) as [number, number][]) {
        count += n;
        bytes += n * m.sensorBytes[id]!;
      }
      if (count > 0) st.delTelemetryRange.run(b.firstSeq, b.lastSeq);
      m.telemetryCount -= count;
      m.telemetryBytes -= bytes;
    } else {
      const [count, bytes] = st.sumEventsRange.get(b.firstSeq, b.lastSeq) as [number, number];
      if (count > 0) st.delEventsRange.run(b.firstSeq, b.lastSeq);
      m.eventCount -= count;
      m.eventBytes -= bytes;
    }
  }

  /** Hand out every remaining row again (after a connection loss, once nothing is in flight). */
  rewind(): void {
    this.#cursor.events = 0;
    this.#cursor.telemetry = 0;
  }

  /** See SqliteOutbox.prune(). */
  prune(): number {
    const c = this.#c;
    c.dbOrThrow();
    const m = c.m;
    let dropped = 0;
    if (c.options.maxAgeMs > 0 && m.telemetryCount > 0) {
      const cutoff = c.clock.now() - c.options.maxAgeMs;
      const firstYoung = c.st.firstMarkAtOrAfter.get(cutoff) as number | undefined;
      const below = firstYoung ?? m.seq + 1;
      dropped = this.#pruneTx(below);
    }
    const min = this.#minSeq();
    const mark = c.st.markAtOrBefore.get(min ?? m.seq + 1) as [number, number] | undefined;
    if (mark) c.st.delMarksBefore.run(mark[0]);
    if (dropped > 0) c.notify();
    return dropped;
  }

  #dropTelemetryBelow(cutoffSeq: number): number {
    const c = this.#c;
    const m = c.m;
    let count = 0;
    let bytes = 0;
    for (const [id, n] of c.st.sumTelemetryRange.all(0, cutoffSeq - 1) as [number, number][]) {
      count += n;
      bytes += n * m.sensorBytes[id]!;
    }
    if (count === 0) return 0;
    c.st.delTelemetryUpTo.run(cutoffSeq - 1);
    m.dropEpoch++;
    m.telemetryCount -= count;
    m.telemetryBytes -= bytes;
    m.dropsAge += count;
    c.st.setMeta.run(m.dropsAge, 'drops_age');
    if (dropChannel.hasSubscribers) dropChannel.publish({ reason: 'age', count });
    return count;
  }

  #minSeq(): number | undefined {
    const a = this.#c.st.minTelemetry.get() as number | null;
    const b = this.#c.st.minEvent.get() as number | null;
    if (a === null) return b ?? undefined;
    if (b === null) return a;
    return Math.min(a, b);
  }

  /** See SqliteOutbox.stats(). */
  stats(): OutboxStats {
    const c = this.#c;
    const m = c.m;
    let oldestAgeMs = 0;
    if (c.db && m.telemetryCount + m.eventCount > 0) {
      const min = this.#minSeq();
      if (min !== undefined) {
        const mark = c.st.markAtOrBefore.get(min) as [number, number] | undefined;
        if (mark) oldestAgeMs = Math.max(0, c.clock.now() - mark[1]);
      }
    }
    return {
      telemetry: m.telemetryCount,
      events: m.eventCount,
      bytes: m.telemetryBytes + m.eventBytes,
      oldestAgeMs,
      lastSeq: m.seq,
      drops: { bytes: m.dropsBytes, age: m.dropsAge, events: 0 },
      refused: m.refused,
      incidents: { seqRollbacks: m.seqRollbacks, quarantined: m.quarantined },
      ...(c.disk && { disk: this.#diskFigures(c.disk) }),
    };
  }

  #diskFigures(disk: DiskGuard): { freeBytes: number; reserve: boolean } {
    let freeBytes = 0;
    try {
      freeBytes = disk.freeBytes();
    } catch {
      /* statfs unavailable */
    }
    return { freeBytes, reserve: this.#c.reserveOk };
  }
}

/** seq of a record built by selTelemetry: `{"seq":123,...` */
function seqOf(json: string): number {
  return Number(json.slice(7, json.indexOf(',', 7)));
}
