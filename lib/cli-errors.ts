/**
 * The one shape of a command-line usage error, for every `edgeloop` command:
 *
 *   edgeloop <cmd>: --flag: what was wrong (expected …)
 *
 * with exit status 2 (USAGE_EXIT_CODE). Commands throw `flagError()` / `usageError()`; `parseFlags()` wraps
 * node:util parseArgs so unknown options and missing values come out in the same shape; `fromZodIssue()` turns a
 * schema issue on a flag-supplied value into one. cli/main.ts prints the message as is and returns 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EdgeloopError } from '../protocol/errors.ts';
import { expectedOf, type Issue } from '../protocol/zod-issues.ts';

export const USAGE_EXIT_CODE = 2;
export const USAGE_ERROR_CODE = 'EL_ERR_USAGE';

/** A usage error about the command line as a whole (a missing or unknown subcommand or argument). */
export function usageError(cmd: string, what: string, expected?: string): EdgeloopError {
  return new EdgeloopError(USAGE_ERROR_CODE, `edgeloop ${cmd}: ${what}${expected ? ` (expected ${expected})` : ''}`, {
    details: { command: cmd, expected },
  });
}

/** A usage error about one flag: `flagError('dlq', '--limit', 'got "0"', 'an integer >= 1')`. */
export function flagError(cmd: string, flag: string, what: string, expected?: string): EdgeloopError {
  const e = usageError(cmd, `${flag}: ${what}`, expected);
  (e.details as Record<string, unknown>).flag = flag;
  return e;
}

export function isUsageError(err: unknown): err is EdgeloopError {
  return err instanceof EdgeloopError && err.code === USAGE_ERROR_CODE;
}

/** A schema issue on a value that came from `flag` (given as `raw`). */
export function fromZodIssue(cmd: string, flag: string, raw: unknown, issue: Issue): EdgeloopError {
  return flagError(cmd, flag, `invalid value ${JSON.stringify(raw)}`, expectedOf(issue));
}

/** node:util parseArgs with strict checking; its errors become usage errors of `cmd`. */
export function parseFlags<const C extends Omit<ParseArgsConfig, 'args' | 'strict'>>(
  cmd: string,
  argv: string[],
  config: C,
) {
  try {
    return parseArgs({ ...config, args: argv, strict: true as const });
  } catch (err) {
    throw fromParseArgsError(cmd, err, Object.keys(config.options ?? {}));
  }
}

/** Map an ERR_PARSE_ARGS_* error of node:util parseArgs to the usage-error shape; other errors pass through. */
export function fromParseArgsError(cmd: string, err: unknown, known: string[] = []): unknown {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  if (!code.startsWith('ERR_PARSE_ARGS_')) return err;
  const message = (err as Error).message;
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  const flag = quoted.split(' ')[0]!;
  const help = `see edgeloop ${cmd.split(' ')[0]} --help`;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const list = known.map((k) => `--${k}`).join(', ');
    return flagError(cmd, flag, 'unknown option', list ? `one of ${list}; ${help}` : help);
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return usageError(cmd, `${JSON.stringify(quoted)}: unexpected argument`, `options only; ${help}`);
  }
  if (/does not take an argument/.test(message)) return flagError(cmd, flag, 'takes no value', `${flag} alone`);
  return flagError(cmd, flag, 'needs a value', `${flag} VALUE`);
}

export interface NumberFlagRange {
  min?: number;
  max?: number;
  integer?: boolean;
}

/** Parse a numeric flag value; undefined stays undefined. */
export function numberFlag(
  cmd: string,
  flag: string,
  v: string | undefined,
  r: NumberFlagRange = {},
): number | undefined {
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? Number.NaN : Number(v);
  const { min = -Infinity, max = Infinity, integer = false } = r;
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const range =
      min > -Infinity && max < Infinity
        ? ` in [${min}, ${max}]`
        : min > -Infinity
          ? ` >= ${min}`
          : max < Infinity
            ? ` <= ${max}`
            : '';
    throw flagError(cmd, flag, `invalid value ${JSON.stringify(v)}`, `${integer ? 'an integer' : 'a number'}${range}`);
  }
  return n;
}

/** Check an enumerated flag value; undefined stays undefined. */
export function choiceFlag<const T extends string>(
  cmd: string,
  flag: string,
  v: string | undefined,
  choices: readonly T[],
): T | undefined {
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v))
    throw flagError(cmd, flag, `invalid value ${JSON.stringify(v)}`, `one of ${choices.join('|')}`);
  return v as T;
}

/** A flag value read by `parse` (which throws on bad input): its error becomes a usage error naming the flag. */
export function parsedFlag<T>(cmd: string, flag: string, v: string, parse: (v: string) => T, expected: string): T {
  try {
    return parse(v);
  } catch {
    throw flagError(cmd, flag, `invalid value ${JSON.stringify(v)}`, expected);
  }
}
