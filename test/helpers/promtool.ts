/**
 * `promtool check metrics` (the Prometheus project's own linter for the text exposition format) run on a scraped
 * body. promtool comes with the Debian `prometheus` package; when it is missing the check fails with the install
 * command instead of passing silently.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';

export interface PromtoolResult {
  status: number | null;
  /** promtool's findings, one per line ('' when the body is clean) */
  output: string;
}

export function promtoolCheckMetrics(body: string, promtool: string = PROMTOOL): PromtoolResult {
  if (!existsSync(promtool)) {
    throw new Error(`promtool not found at ${promtool}: install it with \`sudo apt-get install -y prometheus\` (or set PROMTOOL=/path/to/promtool)`);
  }
  const r = spawnSync(promtool, ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}
