/**
 * The background loop of a stream consumer (the Processor, the RawArchive): run `step()` while `running()`; after
 * a failed step wait 100 ms doubling to 5 s; after a step that read records yield to I/O callbacks (a backlog on a
 * synchronous backend would otherwise starve them); after an empty one call `onIdle` and wait for new records
 * (`Stream.waitForRecords`, else `idleWaitMs`). Every wait ends when `signal` aborts.
 */
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { Stream } from './stream.ts';

export interface ConsumerLoopOptions {
  stream: Stream;
  step(): Promise<number>;
  running(): boolean;
  onError(err: unknown): void;
  onIdle?(): void;
  idleWaitMs: number;
  clock: Clock;
  signal: AbortSignal;
  /** unref the wait timers (the consumer's owner holds the process open). Default false. */
  unrefTimers?: boolean;
}

export async function runConsumerLoop(o: ConsumerLoopOptions): Promise<void> {
  let errorDelay = 0;
  while (o.running()) {
    let n = 0;
    try {
      n = await o.step();
      errorDelay = 0;
    } catch (err) {
      if (!o.running()) break;
      errorDelay = Math.min(5000, Math.max(100, errorDelay * 2));
      o.onError(err);
      await abortableSleep(o.clock, errorDelay, o.signal, o.unrefTimers);
      continue;
    }
    if (n > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    else if (o.running()) {
      o.onIdle?.();
      if (o.stream.waitForRecords) await o.stream.waitForRecords({ timeoutMs: o.idleWaitMs, signal: o.signal });
      else await abortableSleep(o.clock, o.idleWaitMs, o.signal, o.unrefTimers);
    }
  }
}

/** Resolve after `ms` on `clock`, or at once when `signal` aborts. */
export function abortableSleep(clock: Clock, ms: number, signal: AbortSignal, unref = false): Promise<void> {
  return new Promise((resolve) => {
    let t: TimerHandle | undefined;
    const done = (): void => {
      if (t) clock.clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    if (signal.aborted) return resolve();
    t = clock.setTimeout(done, ms);
    if (unref) t.unref?.();
    signal.addEventListener('abort', done, { once: true });
  });
}
