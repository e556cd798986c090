/**
 * npm run bench: every benchmark, one after another, each in its own process (so one's heap, sockets and child
 * processes never skew the next). Each reports through bench/lib/report.ts: it prints the machine, its figures and
 * the raw limits measured in the same run, and writes bench/results/<name>.json. A failing benchmark is reported and
 * the others still run.
 *
 *   npm run bench [-- --only models,agent] [--write-docs]   run, then regenerate the tables of docs/benchmarks.md
 *   npm run bench -- --docs-only                           regenerate the tables from the results already there
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeTables } from './lib/docs-tables.ts';
import { type BenchResult, RESULTS_DIR } from './lib/report.ts';
import { TABLE_LAYOUTS } from './lib/table-layouts.ts';

const ALL: Array<[name: string, file: string, args: string[]]> = [
  ['models', 'models/models.bench.ts', []],
  ['agent', 'agent/agent.bench.ts', []],
  ['pipeline', 'cloud/pipeline.bench.ts', []],
  ['stream-features', 'cloud/stream-features.bench.ts', []],
  ['recommend', 'cloud/recommend.bench.ts', []],
  ['maintenance', 'cloud/maintenance.bench.ts', []],
  ['warehouse-reports', 'cloud/warehouse-reports.bench.ts', []],
  ['batch', 'cloud/batch.bench.ts', []],
  ['rollout', 'cloud/rollout.bench.ts', []],
  ['simulator', 'simulator/simulator.bench.ts', []],
];

const { values } = parseArgs({
  options: { only: { type: 'string' }, 'write-docs': { type: 'boolean' }, 'docs-only': { type: 'boolean' } },
});
const only = values.only ? new Set(values.only.split(',').map((s) => s.trim())) : undefined;
const unknown = [...(only ?? [])].filter((n) => !ALL.some(([name]) => name === n));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${ALL.map(([n]) => n).join(', ')}`);
  process.exit(1);
}

/** Regenerate the marked tables of docs/benchmarks.md from bench/results/*.json. */
function writeDocs(): void {
  const results = existsSync(RESULTS_DIR)
    ? readdirSync(RESULTS_DIR)
        .filter((f) => f.endsWith('.json'))
        .map((f) => JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as BenchResult)
    : [];
  const page = join(import.meta.dirname, '..', 'docs', 'benchmarks.md');
  const before = readFileSync(page, 'utf8');
  const { markdown, updated, missing } = writeTables(before, results, TABLE_LAYOUTS);
  // an unchanged page is not rewritten: without results the file stays byte for byte (and keeps its mtime)
  if (markdown !== before) writeFileSync(page, markdown);
  console.log(
    `docs/benchmarks.md: ${updated.length ? `tables of ${updated.join(', ')} regenerated` : 'no marked table had a result'}`,
  );
  for (const m of missing) console.log(`  no figure in the result for ${m}`);
}

const failed: string[] = [];
for (const [name, file, args] of ALL) {
  if (values['docs-only']) break;
  if (only && !only.has(name)) continue;
  console.log(`\n=== ${name} (bench/${file}) ${'='.repeat(Math.max(0, 60 - name.length - file.length))}`);
  const t0 = Date.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, file), ...args], {
      stdio: 'inherit',
    });
    child.on('exit', (c) => resolve(c));
    child.on('error', () => resolve(1));
  });
  console.log(
    `=== ${name}: ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  );
  if (code !== 0) failed.push(name);
}
if (failed.length) {
  console.error(`\nfailed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
if (values['write-docs'] || values['docs-only']) writeDocs();
