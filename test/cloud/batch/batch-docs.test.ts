/**
 * Every shell block of docs/batch.md runs as written from the repository against a data directory whose archive
 * holds today's first hour of a small fleet (EDGELOOP_DATA_DIR points the commands at it, as `npm start` would
 * have filled ./.edgeloop/cloud), and the CLI refuses a bad range readably.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archiveMessages } from '../../helpers/archive-messages.ts';
import { cli } from '../e2e/e2e-helpers.ts';
import { DAY, deviceId, deviceTelemetry, tempDir } from './batch-fixture.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

function shellCommands(md: string): string[] {
  return [...md.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
    m[1]!.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')),
  );
}

describe('docs/batch.md', () => {
  it('runs as written: backfill, the DAG, its run log, the recomputed windows', { timeout: 180_000 }, async () => {
    const dataDir = join(tempDir(), 'cloud');
    const today = Math.floor(Date.now() / DAY) * DAY;
    await archiveMessages(
      dataDir,
      [0, 1, 2].flatMap((i) => deviceTelemetry(deviceId(i), today, today + 3_600_000, 10_000)),
    );
    const env = { ...process.env, EDGELOOP_DATA_DIR: dataDir, NODE_OPTIONS: '' };
    const out: string[] = [];
    for (const cmd of shellCommands(readFileSync(join(ROOT, 'docs', 'batch.md'), 'utf8'))) {
      try {
        out.push(
          execFileSync('sh', ['-c', cmd], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
        );
      } catch (err) {
        const e = err as { status: number; stdout: string; stderr: string };
        throw new Error(`docs command failed (exit ${e.status}): ${cmd}\n${e.stdout}\n${e.stderr}`);
      }
    }
    expect(out[0]).toMatch(/^backfill job 1: \d+\/\d+ units ok \(success rate 100\.0 %\)/);
    expect(out[0]).toContain(`2160 readings -> 180 window rows`);
    expect(out[1]).toMatch(/run 1 {2}date \d{4}-\d{2}-\d{2} {2}ok/);
    for (const t of ['compact', 'refresh', 'checks', 'export-dataset', 'publish'])
      expect(out[1]).toMatch(new RegExp(`\\n  ${t}\\s+ok`));
    expect(out[2]).toContain('run 1');
    expect(out[2]).toContain('backfill job 1');
    expect(out[3]).toMatch(/entity_id\s+event_time\s+air_temp_count_1m/);
    expect(out[3]).toContain('(5 rows)');
  });

  it('refuses a range that is not UTC days, naming it', async () => {
    const dataDir = join(tempDir(), 'cloud');
    await archiveMessages(dataDir, deviceTelemetry('dev-x', Date.now() - 3_600_000, Date.now(), 60_000));
    const r = await cli(['batch', 'backfill', '--from', '2026-13-01', '--to', '2026-12-02', '--data-dir', dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--from "2026-13-01" is not a UTC day: give YYYY-MM-DD');
    const none = await cli(['batch', 'backfill', '--from', '2020-01-01', '--to', '2020-01-02', '--data-dir', dataDir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/holds no readings from 2020-01-01 to 2020-01-01.*EL_ERR_BATCH_NO_DATA/);
    const u = await cli(['batch', 'frobnicate', '--data-dir', dataDir]);
    expect(u.code).toBe(2);
  });
});
