/**
 * The shell blocks of docs/first-run.md, docs/rollout.md and docs/keep-models-fresh.md, run as written against a real `edgeloop up` (a child
 * process in a temp working directory, on free ports) in one shell working directory, in document order: every
 * block must exit 0.
 *
 * Markers (an HTML comment on the line before the fence):
 *   <!-- doc-test: skip (reason) -->     not run (set-up the test stands in for, long-running servers)
 *   <!-- doc-test: background -->        `npm start` (= `node bin/edgeloop.js up`): started and kept running
 *   <!-- doc-test: expect "TEXT" -->     the block's output must contain TEXT
 * `npm start` runs with `--port 0 --registry-port 0 --rollout-port 0` and a small fleet; the registry and
 * controller URLs it prints go to the blocks through $EDGELOOP_REGISTRY_URL / $EDGELOOP_ROLLOUT_URL, the
 * documented overrides of the CLI's defaults (8081, 8082). `edgeloop` is put on PATH as bin/edgeloop.js.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

export interface DocBlock {
  doc: string;
  line: number;
  code: string;
  marker:
    | { kind: 'run' }
    | { kind: 'skip'; reason: string }
    | { kind: 'background' }
    | { kind: 'expect'; text: string };
}

/** The ```sh blocks of a markdown file with the doc-test marker on the line before each. */
export function shellBlocks(doc: string): DocBlock[] {
  const lines = readFileSync(join(root, 'docs', doc), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (end < 0) throw new Error(`${doc}:${i + 1}: unterminated code block`);
    const prev = lines[i - 1] ?? '';
    const m = /^<!-- doc-test: (skip \((.+)\)|background|expect "(.+)") -->$/.exec(prev.trim());
    if (prev.includes('doc-test') && !m) throw new Error(`${doc}:${i}: unknown doc-test marker ${prev.trim()}`);
    const marker: DocBlock['marker'] = !m
      ? { kind: 'run' }
      : m[2] !== undefined
        ? { kind: 'skip', reason: m[2] }
        : m[3] !== undefined
          ? { kind: 'expect', text: m[3] }
          : { kind: 'background' };
    blocks.push({ doc, line: i + 1, code: lines.slice(i + 1, end).join('\n'), marker });
    i = end;
  }
  return blocks;
}

function waitForOutput(
  child: ChildProcess,
  re: RegExp,
  timeoutMs: number,
  seen: { out: string },
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`no output matching ${re} within ${timeoutMs} ms:\n${seen.out}`)),
      timeoutMs,
    );
    const check = (): void => {
      const m = re.exec(seen.out);
      if (!m) return;
      clearTimeout(t);
      child.stdout!.off('data', check);
      resolve(m);
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`edgeloop up exited with ${code}:\n${seen.out}`)));
    check();
  });
}

/** The pages whose shell blocks run, in this order, against one `edgeloop up`. */
const DOCS = ['first-run.md', 'rollout.md', 'keep-models-fresh.md'];

describe('documented commands run as written against `edgeloop up`', () => {
  it('parses the markers', () => {
    const all = DOCS.flatMap((d) => shellBlocks(d));
    expect(all.filter((b) => b.marker.kind === 'background')).toHaveLength(1);
    // exceptions stay few: set-up the test stands in for, servers `up` already runs, the 15-minute drift scenario
    expect(all.filter((b) => b.marker.kind === 'skip').length).toBeLessThanOrEqual(3);
  });

  it('docs/first-run.md, docs/rollout.md, then docs/keep-models-fresh.md', { timeout: 420_000 }, async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'el-doc-'));
    onTestFinished(() => rmSync(cwd, { recursive: true, force: true }));
    const bin = join(cwd, '.bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'edgeloop'),
      `#!/bin/sh\nexec "${process.execPath}" "${join(root, 'bin', 'edgeloop.js')}" "$@"\n`,
    );
    chmodSync(join(bin, 'edgeloop'), 0o755);
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', PATH: `${bin}:${process.env.PATH}` };
    let up: ChildProcess | undefined;
    const upOut = { out: '' };
    onTestFinished(() => {
      if (up && up.exitCode === null) up.kill('SIGKILL');
    });
    const ran: string[] = [];
    for (const b of DOCS.flatMap((d) => shellBlocks(d))) {
      const where = `${b.doc}:${b.line}`;
      if (b.marker.kind === 'skip') continue;
      if (b.marker.kind === 'background') {
        expect(b.code, `${where}: a background block runs npm start`).toMatch(/^npm start\b/m);
        up = spawn(
          process.execPath,
          [
            join(root, 'bin', 'edgeloop.js'),
            'up',
            '--port',
            '0',
            '--registry-port',
            '0',
            '--rollout-port',
            '0',
            '--devices',
            '4',
            '--fault-every',
            '0',
            // one fleet signal for every run: the shadow gate of rollout.md compares two models on it
            '--seed',
            '1',
          ],
          {
            cwd,
            env,
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        up.stdout!.on('data', (d) => (upOut.out += String(d)));
        up.stderr!.on('data', (d) => (upOut.out += String(d)));
        const [, registry, rollout] = await waitForOutput(
          up,
          /registry\s+(http:\/\/\S+)[\s\S]*rollout\s+(http:\/\/\S+)[\s\S]*Press Ctrl-C/,
          120_000,
          upOut,
        );
        env.EDGELOOP_REGISTRY_URL = registry;
        env.EDGELOOP_ROLLOUT_URL = rollout;
        continue;
      }
      expect(up, `${where}: runs after npm start`).toBeDefined();
      const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', b.code], {
        cwd,
        env,
        encoding: 'utf8',
        timeout: 180_000,
      });
      const out = `${r.stdout}${r.stderr}`;
      expect(
        r.status,
        `${where} exited ${r.status}:\n${b.code}\n--- output ---\n${out}\n--- up ---\n${upOut.out.slice(-3000)}`,
      ).toBe(0);
      if (b.marker.kind === 'expect')
        expect(out, `${where}: expected "${b.marker.text}" in:\n${out}`).toContain(b.marker.text);
      ran.push(where);
    }
    expect(ran.length).toBeGreaterThanOrEqual(8);
    const exited = new Promise<number | null>((r) => up!.once('exit', (code) => r(code)));
    up!.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(upOut.out).toMatch(/edgeloop up: stopped cleanly/);
  });
});
