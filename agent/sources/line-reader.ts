/**
 * Reads NDJSON readings from a byte stream (stdin, a UNIX socket connection), a chunk at a time: every chunk's
 * complete lines are parsed and handed over as one batch, and the stream is paused until the batch is accepted
 * (backpressure: a fast writer cannot grow the agent's memory). An over-long line is rejected, not buffered.
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { MAX_LINE_BYTES, parseLine, type ParsedLines } from './reading-parser.ts';

export interface LineReaderHandlers {
  /** a batch of parsed lines; the stream stays paused until the promise settles */
  batch(parsed: ParsedLines): Promise<void>;
  now(): number;
}

/** Consume `stream` until it ends (resolves) or errors (rejects). Line numbers count from 1 over the stream. */
export function readLines(stream: Readable, h: LineReaderHandlers): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let rest = '';
    let lineNo = 0;
    let skipping = false;
    let busy: Promise<void> = Promise.resolve();
    const handle = (text: string, final: boolean): ParsedLines => {
      const parsed: ParsedLines = { readings: [], rejected: [] };
      const all = rest + text;
      const parts = all.split('\n');
      rest = final ? '' : parts.pop()!;
      if (final && parts[parts.length - 1] === '') parts.pop();
      for (const line of parts) {
        lineNo++;
        if (skipping) {
          skipping = false; // the tail of an over-long line
          continue;
        }
        const r = parseLine(line, h.now());
        if (r === undefined) continue;
        if (typeof r === 'string') parsed.rejected.push({ line: lineNo, reason: r });
        else parsed.readings.push(r);
      }
      if (rest.length > MAX_LINE_BYTES) {
        parsed.rejected.push({ line: lineNo + 1, reason: `line longer than ${MAX_LINE_BYTES} bytes` });
        rest = '';
        skipping = true;
      }
      return parsed;
    };
    const deliver = (parsed: ParsedLines): void => {
      if (parsed.readings.length === 0 && parsed.rejected.length === 0) return;
      stream.pause();
      busy = busy
        .then(() => h.batch(parsed))
        .then(
          () => {
            if (!stream.destroyed) stream.resume();
          },
          (err: unknown) => {
            stream.destroy(err as Error);
          },
        );
    };
    stream.on('data', (chunk: Buffer | string) =>
      deliver(handle(typeof chunk === 'string' ? chunk : decoder.write(chunk), false)),
    );
    stream.once('end', () => {
      deliver(handle(decoder.end(), true));
      busy.then(resolve, reject);
    });
    stream.once('error', (err) => busy.finally(() => reject(err)));
    stream.once('close', () => busy.then(resolve, reject));
  });
}
