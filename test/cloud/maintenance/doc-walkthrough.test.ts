/**
 * The shell blocks of docs/predict-maintenance.md run as written, in document order, in one temp working directory
 * with `edgeloop` on PATH (bin/edgeloop.js): every block not marked skip must exit 0, and an `expect` block's output
 * must contain its text. Markers as in test/docs/doc-commands.test.ts (an HTML comment on the line before the fence).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './fixtures.ts';

const root = join(import.meta.dirname, '..', '..', '..');

function blocks(doc: string): Array<{ line: number; code: string; marker: string }> {
  const lines = readFileSync(join(root, 'docs', doc), 'utf8').split('\n');
  const out: Array<{ line: number; code: string; marker: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    out.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n'), marker: (lines[i - 1] ?? '').trim() });
    i = end;
  }
  return out;
}

describe('docs/predict-maintenance.md', () => {
  it('every shell block runs as written (or says why not)', { timeout: 180_000 }, () => {
    const cwd = tempDir();
    const bin = join(cwd, '.bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'edgeloop'),
      `#!/bin/sh\nexec node ${JSON.stringify(join(root, 'bin', 'edgeloop.js'))} "$@"\n`,
    );
    chmodSync(join(bin, 'edgeloop'), 0o755);
    const all = blocks('predict-maintenance.md');
    expect(all.length).toBeGreaterThan(5);
    let ran = 0;
    for (const b of all) {
      const m = /^<!-- doc-test: (skip \((.+)\)|expect "(.+)") -->$/.exec(b.marker);
      if (b.marker.includes('doc-test') && !m) throw new Error(`predict-maintenance.md:${b.line}: unknown marker`);
      if (m?.[2] !== undefined) continue;
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', b.code], {
        cwd,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        encoding: 'utf8',
        timeout: 120_000,
      });
      const out = `${r.stdout}${r.stderr}`;
      expect(r.status, `predict-maintenance.md:${b.line}:\n${b.code}\n${out}`).toBe(0);
      if (m?.[3] !== undefined) expect(out, `predict-maintenance.md:${b.line}`).toContain(m[3]);
      ran++;
    }
    expect(ran).toBeGreaterThanOrEqual(3);
  });
});
