/** JSON lines on standard input (or any readable stream), e.g. `sensor-reader | edgeloop agent --config a.yaml`. */
import type { Readable } from 'node:stream';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { readLines } from './line-reader.ts';
import type { ReadingSink, ReadingSource } from './source.ts';

export interface StdinSourceOptions {
  sink: ReadingSink;
  stream?: Readable;
  clock?: Clock;
  /** called when the stream ends (the CLI may stop the agent then) */
  onEnd?: () => void;
}

export class StdinSource implements ReadingSource {
  readonly name = 'stdin';
  readonly #o: StdinSourceOptions;
  #done: Promise<void> | undefined;
  #closed = false;

  constructor(opts: StdinSourceOptions) {
    this.#o = opts;
  }

  async start(): Promise<void> {
    if (this.#done !== undefined) return;
    const stream = this.#o.stream ?? process.stdin;
    const clock = this.#o.clock ?? systemClock;
    const sink = this.#o.sink;
    this.#done = readLines(stream, {
      now: () => clock.now(),
      batch: async (p) => {
        if (p.rejected.length) sink.rejected(this.name, p.rejected);
        if (p.readings.length) await sink.ingest(p.readings);
      },
    })
      .catch(() => undefined)
      .finally(() => {
        if (!this.#closed) this.#o.onEnd?.();
      });
  }

  /** Resolves when the stream has ended and every batch read from it was handled. */
  get ended(): Promise<void> {
    return this.#done ?? Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const stream = this.#o.stream ?? process.stdin;
    stream.pause();
    if (stream !== process.stdin) stream.destroy();
    else (stream as { unref?: () => void }).unref?.();
  }
}
