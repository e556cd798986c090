/**
 * One default data directory: what `edgeloop cloud` (and `up`, under .edgeloop/cloud) writes without --data-dir is
 * what `dlq` and `features` read without it; pointed at a directory with no store they say so and exit 1.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CloudConfigSchema } from '../../cloud/config.ts';
import { DEFAULT_DATA_DIRS } from '../../lib/data-dirs.ts';
import { runCli, startCli, tempCwd } from './cli-process.ts';

describe('default data directory', () => {
  it('is .edgeloop/cloud for the cloud config, the layout of edgeloop up', () => {
    expect(CloudConfigSchema.parse({}).dataDir).toBe('.edgeloop/cloud');
    expect(DEFAULT_DATA_DIRS.cloud).toBe(join(DEFAULT_DATA_DIRS.root, 'cloud'));
  });

  it('dlq reads what cloud wrote, both without --data-dir; an empty directory is an error, exit 1', async () => {
    const cwd = tempCwd();
    const none = await runCli(['dlq', 'list'], { cwd });
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      `edgeloop dlq: no dead-letter store in ${join(cwd, '.edgeloop', 'cloud')} (${join(cwd, '.edgeloop', 'cloud', 'dlq.db')} does not exist): is --data-dir right? has the cloud run there? [EL_ERR_CLI_NO_STORE]\n`,
    );
    const features = await runCli(['features', 'get', 'dev-1'], { cwd });
    expect(features.code).toBe(1);
    expect(features.stderr).toMatch(/no feature store in .*\.edgeloop\/cloud .*\[EL_ERR_CLI_NO_STORE\]/);

    const cloud = startCli(['cloud', '--only', 'dlq', '--log-level', 'warn'], {
      cwd,
      env: { EDGELOOP_HTTP__PORT: '0' },
    });
    await cloud.waitFor(/edgeloop cloud running/);
    cloud.child.kill('SIGTERM');
    expect(await cloud.exited).toBe(0);
    expect(existsSync(join(cwd, '.edgeloop', 'cloud', 'dlq.db'))).toBe(true);
    const list = await runCli(['dlq', 'list'], { cwd });
    expect(list).toMatchObject({ code: 0, stdout: 'no dead letters\n' });
  }, 120_000);
});
