import { pino, type Logger } from 'pino';

export type { Logger };

/** Libraries take a logger through options; this is the default when none is passed: silent. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** The CLI's logger: JSON lines to stderr (stdout stays for command output), level from EDGELOOP_LOG_LEVEL. */
export function createCliLogger(level: string = 'info'): Logger {
  return pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true }));
}
