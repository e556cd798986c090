/** The thin CLI around the cloud: config checking, errors that name the field, hash-password, option checks. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyPassword } from '../../../cloud/broker/password-hash.ts';
import { cli, tempDir } from './e2e-helpers.ts';

describe('edgeloop cloud / features / dlq CLI', () => {
  it('cloud --check prints the effective config; a bad field is named with its file', async () => {
    const dir = tempDir();
    const good = await cli([
      'cloud',
      '--check',
      '--config',
      join(import.meta.dirname, '../../../docs/cloud.example.yaml'),
      '--only',
      'ingest,processor',
    ]);
    expect(good.code).toBe(0);
    const cfg = JSON.parse(good.stdout) as { only: string[]; broker: { mode: string } };
    expect(cfg.only).toEqual(['ingest', 'processor']);
    expect(cfg.broker.mode).toBe('embedded');

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'ingest:\n  maxBatchRecord: 5\n');
    const r = await cli(['cloud', '--check', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bad.yaml');
    expect(r.stderr).toMatch(/maxBatchRecord/);
    expect(r.stderr).toContain('[EL_ERR_CONFIG_INVALID]');

    writeFileSync(bad, 'broker:\n  mode: external\n');
    expect((await cli(['cloud', '--check', '--config', bad])).stderr).toMatch(/broker\.external.*url is not set/);
    expect((await cli(['cloud', '--bogus'])).code).toBe(2);
  });

  it('cloud hash-password makes a verifiable scrypt hash', async () => {
    const r = await cli(['cloud', 'hash-password', '--password', 'hunter2']);
    expect(r.code).toBe(0);
    const hash = r.stdout.trim();
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(await verifyPassword('hunter2', hash)).toBe(true);
    expect(await verifyPassword('hunter3', hash)).toBe(false);
  });

  it('features and dlq check their arguments and report a missing store clearly', async () => {
    const dir = tempDir();
    expect((await cli(['features', 'get'])).stderr).toMatch(
      /edgeloop features: missing DEVICE \(expected features get DEVICE/,
    );
    const missing = await cli(['features', 'get', 'dev-1', '--data-dir', dir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no feature store in .*features\.db does not exist.*\[EL_ERR_CLI_NO_STORE\]/);
    expect((await cli(['dlq', 'list', '--reason', 'bogus', '--data-dir', dir])).stderr).toMatch(
      /--reason: invalid value "bogus" \(expected one of malformed\|oversized\|unauthorized\|topic-mismatch/,
    );
    expect((await cli(['dlq', 'list', '--limit', '0', '--data-dir', dir])).stderr).toMatch(
      /--limit: invalid value "0" \(expected an integer >= 1\)/,
    );
    const absent = await cli(['dlq', 'list', '--data-dir', dir]);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toMatch(/no dead-letter store in .*\[EL_ERR_CLI_NO_STORE\]/);
    const { SqliteDlq } = await import('../../../cloud/dlq/sqlite-dlq.ts');
    await (await SqliteDlq.create({ path: join(dir, 'dlq.db') })).close();
    const empty = await cli(['dlq', 'list', '--data-dir', dir]);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toMatch(/no dead letters/);
    expect((await cli(['dlq', 'stats', '--data-dir', dir])).stdout).toMatch(/malformed\s+0/);
    expect((await cli(['cloud', '--help'])).stdout).toMatch(/--only PARTS/);
  });
});
