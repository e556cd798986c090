/**
 * Shutdown on SIGTERM / SIGINT for the long-running commands (agent, cloud): the first signal (or a call to
 * `stop(why)`) runs `close()` once and resolves `done` with the exit code (0, or 1 when closing failed); a second
 * signal exits at once. Only cli/ handles signals (CONVENTIONS.md 8).
 */
import type { Logger } from '../lib/logger.ts';

export interface SignalStop {
  /** resolves with the exit code once close() has finished */
  readonly done: Promise<number>;
  /** a signal (or stop()) has begun closing */
  readonly stopping: boolean;
  stop(why: string): Promise<void>;
  /** remove the signal handlers */
  dispose(): void;
}

export function stopOnSignal(logger: Logger, close: () => Promise<void>, onSecondSignal: string): SignalStop {
  let stopping: Promise<void> | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ why }, 'stopping');
      try {
        await close();
        resolveDone(0);
      } catch (err) {
        logger.error({ err }, 'error while stopping');
        resolveDone(1);
      }
    })();
    return stopping;
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping !== undefined) {
      logger.warn({ sig }, `second signal: exiting now; ${onSecondSignal}`);
      process.exit(1);
    }
    void stop(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    done,
    stop,
    get stopping() {
      return stopping !== undefined;
    },
    dispose: () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

/**
 * A server command's whole life: start `service` with the signal handlers already installed (a start that waits,
 * for a broker that is down for example, is stopped by SIGTERM like a running service), call `onStarted` once it
 * runs, then serve until a signal closes it. Resolves with the exit code; a start that fails for another reason
 * closes what it opened and throws.
 */
export async function serveUntilSignal(
  logger: Logger,
  service: { start(): Promise<void>; close(): Promise<void> },
  onStarted: () => void,
  onSecondSignal: string,
): Promise<number> {
  const s = stopOnSignal(logger, () => service.close(), onSecondSignal);
  try {
    try {
      await service.start();
    } catch (err) {
      if (s.stopping) return await s.done;
      await service.close().catch(() => {});
      throw err;
    }
    if (s.stopping) return await s.done;
    onStarted();
    return await s.done;
  } finally {
    s.dispose();
  }
}
