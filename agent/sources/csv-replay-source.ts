/**
 * CSV replay: feeds a recorded file through the agent, at the file's pace times `speed` (0 = as fast as the
 * outbox accepts). Two layouts, told apart by the header:
 *   long:  ts,sensor,value            one reading per row
 *   wide:  ts,temperature,vibration   one column per sensor (the first column is the time)
 * The time column (ts | timestamp | time) holds ms since the epoch, seconds (values below 1e11) or ISO 8601.
 * With `retime` (default) timestamps are shifted so the first row is "now" and spacing is divided by `speed`.
 * Malformed rows and cells are rejected with a reason and counted; the replay goes on.
 */
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { EdgeloopError } from '../../protocol/errors.ts';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import type { OutboxReading } from '../outbox/sqlite-outbox.ts';
import type { RejectedLine } from './reading-parser.ts';
import type { ReadingSink, ReadingSource } from './source.ts';

export interface CsvReplaySourceOptions {
  sink: ReadingSink;
  file: string;
  speed?: number;
  loop?: boolean;
  retime?: boolean;
  /** readings per ingest call when replaying as fast as possible, default 2000 */
  batchSize?: number;
  clock?: Clock;
  /** called after the last row (not called when looping or closed) */
  onEnd?: () => void;
}

const TIME_COLUMNS = ['ts', 'timestamp', 'time'];

function parseTime(cell: string): number | undefined {
  const t = cell.trim();
  if (t === '') return undefined;
  const n = Number(t);
  if (Number.isFinite(n)) return n < 1e11 ? n * 1000 : n;
  const d = Date.parse(t);
  return Number.isNaN(d) ? undefined : d;
}

export class CsvReplaySource implements ReadingSource {
  readonly name = 'csv';
  readonly #o: Required<Omit<CsvReplaySourceOptions, 'clock' | 'onEnd'>> & Pick<CsvReplaySourceOptions, 'onEnd'>;
  readonly #clock: Clock;
  #closed = false;
  #timer: TimerHandle | undefined;
  #wake: (() => void) | undefined;
  #run: Promise<void> | undefined;
  #starting: Promise<void> | undefined;
  #rows = 0;

  constructor(opts: CsvReplaySourceOptions) {
    this.#o = { speed: 1, loop: false, retime: true, batchSize: 2000, ...opts };
    if (!(this.#o.speed >= 0))
      throw new EdgeloopError('EL_ERR_INVALID_ARGUMENT', `csv speed must be >= 0, got ${this.#o.speed}`);
    this.#clock = opts.clock ?? systemClock;
  }

  /** rows replayed so far */
  get rows(): number {
    return this.#rows;
  }

  /** Resolves when the replay ended (end of file without loop, or close()). */
  get done(): Promise<void> {
    return this.#run ?? Promise.resolve();
  }

  /** Concurrent calls share one start (one replay); after a failed start, the next call checks the file again. */
  start(): Promise<void> {
    this.#starting ??= this.#begin().catch((err: unknown) => {
      this.#starting = undefined;
      throw err;
    });
    return this.#starting;
  }

  async #begin(): Promise<void> {
    if (!existsSync(this.#o.file))
      throw new EdgeloopError('EL_ERR_AGENT_SOURCE', `CSV file ${this.#o.file} does not exist`);
    // read the header now so a bad file fails start()
    await this.#header();
    this.#run = this.#replayAll().catch(() => undefined);
  }

  async #header(): Promise<string[]> {
    const rl = createInterface({ input: createReadStream(this.#o.file), crlfDelay: Infinity });
    try {
      for await (const line of rl) {
        const cols = line.split(',').map((c) => c.trim());
        if (
          cols.length < 2 ||
          (!TIME_COLUMNS.includes(cols[0]!.toLowerCase()) && !cols.some((c) => TIME_COLUMNS.includes(c.toLowerCase())))
        ) {
          throw new EdgeloopError(
            'EL_ERR_AGENT_SOURCE',
            `${this.#o.file}: header must name a time column (ts, timestamp or time) and the sensors, or be ts,sensor,value; got "${line.slice(0, 80)}"`,
          );
        }
        return cols;
      }
    } finally {
      rl.close();
    }
    throw new EdgeloopError('EL_ERR_AGENT_SOURCE', `${this.#o.file} is empty`);
  }

  async #replayAll(): Promise<void> {
    do {
      await this.#replayOnce();
    } while (this.#o.loop && !this.#closed);
    if (!this.#closed) this.#o.onEnd?.();
  }

  async #replayOnce(): Promise<void> {
    const { sink, speed, retime, batchSize, file } = this.#o;
    const stream = createReadStream(file);
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    let header: string[] | undefined;
    let timeCol = 0;
    let long = false;
    let sensorCol = -1;
    let valueCol = -1;
    let lineNo = 0;
    let first: number | undefined;
    let startAt = 0;
    let batch: OutboxReading[] = [];
    let rejected: RejectedLine[] = [];
    const flush = async (): Promise<void> => {
      if (rejected.length) {
        sink.rejected(this.name, rejected);
        rejected = [];
      }
      if (batch.length) {
        const b = batch;
        batch = [];
        await sink.ingest(b);
      }
    };
    try {
      for await (const line of rl) {
        if (this.#closed) break;
        lineNo++;
        if (!header) {
          header = line.split(',').map((c) => c.trim());
          const lower = header.map((c) => c.toLowerCase());
          timeCol = lower.findIndex((c) => TIME_COLUMNS.includes(c));
          sensorCol = lower.indexOf('sensor');
          valueCol = lower.indexOf('value');
          long = sensorCol >= 0 && valueCol >= 0;
          continue;
        }
        if (line.trim() === '') continue;
        const cells = line.split(',');
        const t = parseTime(cells[timeCol] ?? '');
        if (t === undefined) {
          rejected.push({
            line: lineNo,
            reason: `${header[timeCol]}: not a time: "${(cells[timeCol] ?? '').slice(0, 40)}"`,
          });
          continue;
        }
        if (first === undefined) {
          first = t;
          startAt = this.#clock.now();
        }
        const rel = speed > 0 ? (t - first) / speed : 0;
        if (speed > 0) {
          const due = startAt + rel;
          const wait = due - this.#clock.now();
          if (wait > 0) {
            await flush();
            await this.#sleep(wait);
            if (this.#closed) break;
          }
        }
        const ts = retime ? (speed > 0 ? startAt + rel : this.#clock.now()) : t;
        this.#rows++;
        if (long) {
          const sensor = (cells[sensorCol] ?? '').trim();
          const value = Number(cells[valueCol]);
          if (!sensor || (cells[valueCol] ?? '').trim() === '' || !Number.isFinite(value)) {
            rejected.push({
              line: lineNo,
              reason: !sensor ? 'sensor: empty' : `value: not a number: "${(cells[valueCol] ?? '').slice(0, 40)}"`,
            });
          } else batch.push({ sensor, ts, value });
        } else {
          for (let c = 0; c < header.length; c++) {
            if (c === timeCol) continue;
            const cell = (cells[c] ?? '').trim();
            const value = Number(cell);
            if (cell === '' || !Number.isFinite(value)) {
              rejected.push({ line: lineNo, reason: `${header[c]}: not a number: "${cell.slice(0, 40)}"` });
            } else batch.push({ sensor: header[c]!, ts, value });
          }
        }
        if (batch.length >= batchSize) await flush();
      }
      if (!this.#closed) await flush();
    } finally {
      rl.close();
      stream.destroy();
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#wake = undefined;
        resolve();
      }, ms);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wake?.();
    await this.#run;
  }
}
