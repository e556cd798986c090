/**
 * What an `edgeloop` process does with a promise rejection nothing handled (a bug: some background task's
 * failure was not awaited): it logs it at error level with code EL_ERR_UNHANDLED_REJECTION and the error's own
 * code, then
 *   - a one-shot command (models, dlq, features, registry push, sim, ...) exits 1 at once: its result can no longer
 *     be trusted, and a script must see the failure;
 *   - a long-running service (agent, cloud, up, recommend, registry/rollout serve) keeps running: what it accepted
 *     is already durable (outbox, stream), its parts report their own health, and exiting would turn one failed
 *     background call into an outage for every device. The log line is the alert.
 */
import type { Logger } from '../lib/logger.ts';

export interface RejectionHandlerOptions {
  command: string;
  service: boolean;
  logger: Logger;
  /** default process.exit */
  exit?: (code: number) => void;
}

/** Install the handler; returns a function that removes it. */
export function installRejectionHandler(o: RejectionHandlerOptions): () => void {
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const onRejection = (reason: unknown): void => {
    const err = reason instanceof Error ? reason : new Error(String(reason));
    const errCode = (err as { code?: unknown }).code;
    o.logger.error(
      {
        code: 'EL_ERR_UNHANDLED_REJECTION',
        command: o.command,
        ...(typeof errCode === 'string' ? { errCode } : {}),
        err,
      },
      o.service
        ? `unhandled rejection in edgeloop ${o.command}: ${err.message}; the service keeps running`
        : `unhandled rejection in edgeloop ${o.command}: ${err.message}; exiting`,
    );
    if (!o.service) exit(1);
  };
  process.on('unhandledRejection', onRejection);
  return () => void process.off('unhandledRejection', onRejection);
}
