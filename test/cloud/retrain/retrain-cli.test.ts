/**
 * `edgeloop retrain`: the shell blocks of docs/retrain.md run as written (in document order, `edgeloop` on PATH)
 * in a working directory whose cloud.yaml and data directory the test prepares: an archive of the last 40 minutes
 * in which the north site's temperature sensor reads 3 degrees high, and a registry with the champion.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { main } from '../../../cli/main.ts';
import { memoryCliContext } from '../../helpers/cli-context.ts';
import { registryWithChampion, STEP_MS, writeArchive } from './fixture.ts';

const root = join(import.meta.dirname, '..', '..', '..');

function shBlocks(doc: string): string[] {
  const lines = readFileSync(join(root, 'docs', doc), 'utf8').split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```sh\s*$/.test(lines[i]!)) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    out.push(lines.slice(i + 1, end).join('\n'));
    i = end;
  }
  return out;
}

it('the commands of docs/retrain.md run as written; bad flags and too little data fail clearly', {
  timeout: 180_000,
}, async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'el-retrain-cli-'));
  onTestFinished(() => rmSync(cwd, { recursive: true, force: true }));
  const dataDir = join(cwd, 'data');
  const steps = 2400;
  const t0 = Math.floor(Date.now() / 1000) * 1000 - (steps + 60) * STEP_MS;
  await writeArchive(dataDir, {
    devices: [
      { id: 'd1', site: 'north' },
      { id: 'd2', site: 'north' },
      { id: 'd3', site: 'south' },
    ],
    steps,
    t0,
    shift: (id) => (id === 'd3' ? [0, 0] : [3, 0]),
  });
  (await registryWithChampion(dataDir)).close();
  writeFileSync(
    join(cwd, 'cloud.yaml'),
    [
      'dataDir: ./data',
      'registry:',
      '  trustedKeys: [./data/trusted-keys, ./data/retrain/keys]',
      'retrain:',
      '  training: { epochs: 8, batchSize: 64, hidden: [8, 4], learningRate: 0.01 }',
      '  criteria: { maxP99Ms: 1000 }',
      '',
    ].join('\n'),
  );
  const bin = join(cwd, '.bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'edgeloop'),
    `#!/bin/sh\nexec "${process.execPath}" "${join(root, 'bin', 'edgeloop.js')}" "$@"\n`,
  );
  chmodSync(join(bin, 'edgeloop'), 0o755);
  const env = { ...process.env, NODE_OPTIONS: '', PATH: `${bin}:${process.env.PATH}` };

  const blocks = shBlocks('retrain.md');
  expect(blocks.length).toBeGreaterThanOrEqual(3);
  const outputs: string[] = [];
  for (const code of blocks) {
    const r = spawnSync('sh', ['-ec', code], { cwd, env, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, `${code}\n${r.stdout}\n${r.stderr}`).toBe(0);
    outputs.push(r.stdout);
  }
  const all = outputs.join('\n');
  expect(all).toMatch(/job 1 \(manual, [^)]+\): candidate r\S+ \(parent 1\.0\.0\)/);
  expect(all).toMatch(/training key [0-9a-f]{16}: .*training\.pub\n-----BEGIN PUBLIC KEY-----/);

  const cli = async (...argv: string[]) => {
    const m = memoryCliContext(cwd);
    const code = await main(['retrain', ...argv], m.ctx);
    return { code, out: m.out(), err: m.err() };
  };
  expect((await cli('frobnicate')).code).toBe(2);
  const bad = await cli('run', '--config', 'cloud.yaml', '--from', 'yesterday');
  expect(bad.code).toBe(2);
  expect(bad.err).toContain('--from: invalid value "yesterday"');
  const none = await cli('run', '--config', 'cloud.yaml', '--device', 'nope', '--quiet');
  expect(none.code).toBe(1);
  expect(none.err).toContain('EL_ERR_RETRAIN_NO_DATA');
  const history = JSON.parse((await cli('history', '--config', 'cloud.yaml', '--json')).out) as {
    jobs: Array<{ outcome: string }>;
  };
  expect(history.jobs.map((j) => j.outcome)).toEqual(['failed', 'candidate']);
});
