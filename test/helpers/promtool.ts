/**
 * promtool, the Prometheus project's own checker: `promtool check metrics` (its linter for the text exposition
 * format) on a scraped body, and any other subcommand (`check rules`, `test rules`, `check config`). promtool comes
 * with the Debian `prometheus` package; when it is missing the check fails with the install command instead of
 * passing silently.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';

export interface PromtoolResult {
  status: number | null;
  /** promtool's findings, one per line ('' when the body is clean) */
  output: string;
}

/** `promtool <args>` (stdin from `input`); fails with the install command when promtool is missing */
export function runPromtool(
  args: string[],
  opts: { input?: string; cwd?: string; promtool?: string } = {},
): PromtoolResult {
  const promtool = opts.promtool ?? PROMTOOL;
  if (!existsSync(promtool)) {
    throw new Error(
      `promtool not found at ${promtool}: install it with \`sudo apt-get install -y prometheus\` (or set PROMTOOL=/path/to/promtool)`,
    );
  }
  const r = spawnSync(promtool, args, { input: opts.input ?? '', cwd: opts.cwd, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

export function promtoolCheckMetrics(body: string, promtool: string = PROMTOOL): PromtoolResult {
  return runPromtool(['check', 'metrics'], { input: body, promtool });
}
