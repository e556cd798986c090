/**
 * OutboxMirror: what the outbox keeps in memory of its database (the seq counter, row counts and accounted bytes,
 * drop and refusal counters, the seq high-water mark as the database recorded it, interned sensor ids), so that the
 * bound, the figures and the batches need no query for them. Pure: the outbox's write transactions update it in the
 * same step as the rows, and put it back with `restorer()` when a transaction rolls back.
 */
import { TELEMETRY_ROW_OVERHEAD } from './outbox-options.ts';

export class OutboxMirror {
  seq = 0;
  /** rows and accounted bytes, per lane */
  telemetryCount = 0;
  telemetryBytes = 0;
  eventCount = 0;
  eventBytes = 0;
  /** sensor ids interned once (name → id) */
  readonly sensorIds = new Map<string, number>();
  /** per sensor id: accounted bytes of one reading */
  readonly sensorBytes: number[] = [];
  /** every sensor name is printable ASCII (string length = UTF-8 length of a record) */
  asciiNames = true;
  /** readings deleted by the byte bound and by the age bound */
  dropsBytes = 0;
  dropsAge = 0;
  /** refusals stored in meta, and those not stored yet (the disk was full): written with the next write that succeeds */
  refusedSaved = 0;
  refusedPending = 0;
  /** incremented whenever the policy deletes telemetry */
  dropEpoch = 0;
  /** the high-water mark as the database recorded it */
  dbCeiling = 0;
  seqRollbacks = 0;
  quarantined = 0;

  /** Take the counters of the meta table (absent keys read as 0) and forget the interned sensors. */
  loadMeta(meta: ReadonlyMap<string, number>): void {
    this.seq = meta.get('seq') ?? 0;
    this.dropsBytes = meta.get('drops_bytes') ?? 0;
    this.dropsAge = meta.get('drops_age') ?? 0;
    this.refusedSaved = meta.get('refused') ?? 0;
    this.dbCeiling = meta.get('seq_ceiling') ?? 0;
    this.seqRollbacks = meta.get('seq_rollbacks') ?? 0;
    this.quarantined = meta.get('quarantined') ?? 0;
    this.sensorIds.clear();
    this.asciiNames = true;
  }

  /** Take the stored rows' figures: readings per sensor id, and the events' count and bytes. */
  loadRows(
    telemetryPerSensor: ReadonlyArray<readonly [id: number, count: number]>,
    events: number,
    eventBytes: number,
  ) {
    this.telemetryCount = 0;
    this.telemetryBytes = 0;
    for (const [id, n] of telemetryPerSensor) {
      this.telemetryCount += n;
      this.telemetryBytes += n * this.sensorBytes[id]!;
    }
    this.eventCount = events;
    this.eventBytes = eventBytes;
  }

  registerSensor(id: number, name: string): void {
    this.sensorIds.set(name, id);
    this.sensorBytes[id] = TELEMETRY_ROW_OVERHEAD + Buffer.byteLength(name);
    // json_quote leaves non-ASCII as UTF-8: byte lengths then need Buffer.byteLength
    if (!/^[\x20-\x7e]*$/.test(name)) this.asciiNames = false;
  }

  /** accounted bytes of one reading of `name` (an unknown sensor counts with its name's length) */
  readingBytes(name: string): number {
    const id = this.sensorIds.get(name);
    return id === undefined ? TELEMETRY_ROW_OVERHEAD + Buffer.byteLength(name) : this.sensorBytes[id]!;
  }

  /** refusals counted so far, stored or not */
  get refused(): number {
    return this.refusedSaved + this.refusedPending;
  }

  /** After a write transaction committed: the pending refusals were stored with it. */
  refusalsStored(): void {
    this.refusedSaved += this.refusedPending;
    this.refusedPending = 0;
  }

  /**
   * Save what a write transaction may change; the returned function puts it back after a rollback (sensor ids
   * interned by the rolled-back transaction are forgotten).
   */
  restorer(): () => void {
    const saved = ROLLED_BACK.map((k) => this[k]);
    const sensors = this.sensorIds.size;
    return () => {
      for (let k = 0; k < ROLLED_BACK.length; k++) this[ROLLED_BACK[k]!] = saved[k]!;
      let i = 0;
      for (const name of this.sensorIds.keys()) if (i++ >= sensors) this.sensorIds.delete(name);
    };
  }
}

/** the figures a rolled-back write transaction puts back */
const ROLLED_BACK = [
  'seq',
  'telemetryCount',
  'telemetryBytes',
  'eventCount',
  'eventBytes',
  'dropsBytes',
  'dropsAge',
  'dbCeiling',
] as const;
