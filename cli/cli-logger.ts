/**
 * The logger of a long-running command from its flags and environment: --log-level (else EDGELOOP_LOG_LEVEL, else
 * the config's level), --log-format pretty|json (else EDGELOOP_LOG_FORMAT, else pretty on a terminal, JSON
 * otherwise). Bad values are usage errors naming the flag or variable.
 */
import { choiceFlag } from '../lib/cli-errors.ts';
import { createCliLogger, LOG_FORMATS, type Logger } from '../lib/logger.ts';
import type { CliContext } from '../lib/cli-context.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface LogFlags {
  'log-level'?: string | undefined;
  'log-format'?: string | undefined;
}

export function cliLogger(cmd: string, ctx: Pick<CliContext, 'env'>, flags: LogFlags, configLevel?: string): Logger {
  const level =
    flags['log-level'] !== undefined
      ? choiceFlag(cmd, '--log-level', flags['log-level'], LOG_LEVELS)
      : (choiceFlag(cmd, 'EDGELOOP_LOG_LEVEL', ctx.env.EDGELOOP_LOG_LEVEL || undefined, LOG_LEVELS) ??
        configLevel ??
        'info');
  const format =
    flags['log-format'] !== undefined
      ? choiceFlag(cmd, '--log-format', flags['log-format'], LOG_FORMATS)
      : choiceFlag(cmd, 'EDGELOOP_LOG_FORMAT', ctx.env.EDGELOOP_LOG_FORMAT || undefined, LOG_FORMATS);
  return createCliLogger({ level, format: format ?? 'auto' });
}

export const LOG_FLAG_OPTIONS = {
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
} as const;

export const LOG_FLAG_HELP = `  --log-level LEVEL   fatal|error|warn|info|debug|trace|silent (default: EDGELOOP_LOG_LEVEL, else the config's logLevel)
  --log-format F      pretty|json (default: EDGELOOP_LOG_FORMAT, else pretty when stderr is a terminal, json otherwise)
`;
