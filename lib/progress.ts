/**
 * A progress line for long work (training epochs, evaluation files, simulations). On a TTY it redraws one line
 * with a bar; otherwise it prints a line per update at most every `minIntervalMs`, so CI logs stay short.
 */
export interface ProgressOptions {
  total: number;
  label: string;
  stream?: NodeJS.WriteStream | NodeJS.WritableStream;
  minIntervalMs?: number;
  /** write nothing (tests, --quiet) */
  silent?: boolean;
}

export class Progress {
  readonly #o: Required<Omit<ProgressOptions, 'stream'>> & { stream: NodeJS.WritableStream };
  #last = 0;
  #done = 0;
  readonly #start = Date.now();

  constructor(opts: ProgressOptions) {
    this.#o = {
      stream: opts.stream ?? process.stderr,
      minIntervalMs: opts.minIntervalMs ?? (isTty(opts.stream ?? process.stderr) ? 100 : 2000),
      silent: opts.silent ?? false,
      total: opts.total,
      label: opts.label,
    };
  }

  update(done: number, info = ''): void {
    this.#done = done;
    const now = Date.now();
    if (this.#o.silent) return;
    if (done < this.#o.total && now - this.#last < this.#o.minIntervalMs) return;
    this.#last = now;
    this.#o.stream.write(this.#render(info));
  }

  finish(info = ''): void {
    if (this.#o.silent) return;
    this.#done = this.#o.total;
    this.#o.stream.write(this.#render(info) + (isTty(this.#o.stream) ? '\n' : ''));
  }

  #render(info: string): string {
    const { total, label } = this.#o;
    const frac = total > 0 ? Math.min(1, this.#done / total) : 1;
    const secs = ((Date.now() - this.#start) / 1000).toFixed(1);
    const text = `${label} ${this.#done}/${total} (${(frac * 100).toFixed(0)}%) ${secs}s ${info}`.trimEnd();
    if (isTty(this.#o.stream)) {
      const width = 24;
      const filled = Math.round(frac * width);
      return `\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`;
    }
    return text + '\n';
  }
}

function isTty(s: unknown): boolean {
  return Boolean((s as { isTTY?: boolean }).isTTY);
}

/** Clear the screen and put the cursor home (ANSI): a redrawn `--watch` frame replaces the previous one. */
export const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/**
 * One frame of a `--watch` display: on a terminal it redraws the screen from the top; in a pipe or file each frame
 * is appended, separated by a blank line, so a log keeps the history.
 */
export function watchFrame(text: string, o: { tty: boolean; first: boolean }): string {
  const body = text.endsWith('\n') ? text : text + '\n';
  if (o.tty) return CLEAR_SCREEN + body;
  return (o.first ? '' : '\n') + body;
}
