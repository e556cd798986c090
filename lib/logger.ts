import { writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';

export type { Logger };

/** Libraries take a logger through options; this is the default when none is passed: silent. */
export const silentLogger: Logger = pino({ level: 'silent' });

export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface CliLoggerOptions {
  /** pino level; default 'info' */
  level?: string;
  /** 'pretty' (one human-readable line per entry), 'json' (pino's JSON lines), 'auto' (default): pretty when the
   * log stream is a terminal, JSON otherwise (files, pipes, journald, log shippers) */
  format?: LogFormat | 'auto';
  /** file descriptor the lines go to; default 2 (stderr: stdout stays for command output) */
  fd?: number;
  /** whether `fd` is a terminal; default: asked from process.stderr / process.stdout */
  isTTY?: boolean;
}

/**
 * The CLI's logger: lines to stderr, written synchronously (nothing is lost when the process exits right after),
 * JSON or human-readable (see CliLoggerOptions.format). A string argument is the level.
 */
export function createCliLogger(o: string | CliLoggerOptions = {}): Logger {
  const opts: CliLoggerOptions = typeof o === 'string' ? { level: o } : o;
  const fd = opts.fd ?? 2;
  const isTTY = opts.isTTY ?? (fd === 2 ? process.stderr.isTTY : fd === 1 ? process.stdout.isTTY : false) === true;
  const format = opts.format === undefined || opts.format === 'auto' ? (isTTY ? 'pretty' : 'json') : opts.format;
  const level = opts.level ?? 'info';
  if (format === 'json') return pino({ level, base: undefined }, pino.destination({ fd, sync: true }));
  const color = isTTY && !process.env.NO_COLOR;
  return pino(
    { level, base: undefined },
    { write: (line: string) => void writeSync(fd, formatPrettyLine(line, { color }) + '\n') },
  );
}

/**
 * A child logger with only the bindings its parent does not carry already: pino writes a key once per binding, so
 * `logger.child({ deviceId }).child({ deviceId })` would put `"deviceId"` twice in every line.
 */
export function withBindings(logger: Logger, bindings: Record<string, unknown>): Logger {
  const have = logger.bindings();
  const extra = Object.fromEntries(Object.entries(bindings).filter(([k, v]) => have[k] !== v));
  return Object.keys(extra).length > 0 ? logger.child(extra) : logger;
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** bindings shown before the message as the entry's source, in this order */
const SOURCE_KEYS = ['part', 'component', 'deviceId', 'model'];

/**
 * One pino JSON line as `14:03:07.123 WARN  broker pump-7 | message key=value …` (the time is local; err objects
 * print their message and code, and the stack on the lines below). A line that is not JSON passes through.
 */
export function formatPrettyLine(line: string, o: { color?: boolean } = {}): string {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.replace(/\n$/, '');
  }
  const { level, time, msg, ...rest } = e;
  const lv = typeof level === 'number' ? level : 30;
  const t = typeof time === 'number' ? new Date(time) : new Date();
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const name = (LEVELS[lv] ?? String(lv)).padEnd(5);
  const paint = (code: string, s: string): string => (o.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const source = SOURCE_KEYS.filter((k) => rest[k] !== undefined).map((k) => String(rest[k]));
  for (const k of SOURCE_KEYS) delete rest[k];
  let stack = '';
  const fields = Object.entries(rest).map(([k, v]) => {
    if (k === 'err' && v && typeof v === 'object') {
      const err = v as { message?: string; code?: string; stack?: string };
      if (err.stack) stack = '\n' + err.stack.split('\n').slice(1).join('\n');
      return `err=${JSON.stringify(err.message ?? '')}${err.code ? ` code=${err.code}` : ''}`;
    }
    return `${k}=${typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)}`;
  });
  const head = `${paint('90', clock)} ${paint(LEVEL_COLORS[lv] ?? '0', name)}${source.length ? ` ${paint('1', source.join(' '))}` : ''}`;
  return `${head} ${String(msg ?? '')}${fields.length ? ' ' + paint('90', fields.join(' ')) : ''}${stack}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
