/** What a reading source feeds, and what every source implements. */
import type { OutboxReading, SeqRange } from '../outbox/sqlite-outbox.ts';
import type { RejectedLine } from './reading-parser.ts';

export interface ReadingSink {
  /** Resolves once the readings are committed to the outbox (accepted); rejects if they were refused. */
  ingest(readings: OutboxReading[]): Promise<SeqRange>;
  /** Count malformed input (with reasons, for the log and the status). */
  rejected(source: string, lines: RejectedLine[]): void;
}

export interface ReadingSource {
  readonly name: string;
  start(): Promise<void>;
  /** Stop intake (stop listening / reading); readings already handed to the sink are theirs. Idempotent. */
  close(): Promise<void>;
}
