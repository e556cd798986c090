/**
 * biome.json does what docs/contributing.md says: the promise rules everywhere, `console` only outside library
 * folders, undeclared names caught in the JavaScript files that tsc does not check, only TS/JS formatted, and the
 * tree lints clean.
 * Each case lints real files in a temp copy of the configuration with the project's own Biome binary.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const biome = path.join(root, 'node_modules', '.bin', 'biome');

interface Finding {
  rule: string;
  file: string;
  line: number;
}

function run(command: 'lint' | 'format', cwd: string): Finding[] {
  const r = spawnSync(biome, [command, '--reporter=json', '--max-diagnostics=none', '.'], { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  const out = JSON.parse(r.stdout) as {
    diagnostics: Array<{ category: string; location: { path: string; start: { line: number } } }>;
  };
  return out.diagnostics.map((d) => ({ rule: d.category, file: d.location.path, line: d.location.start.line }));
}
const lint = (cwd: string): Finding[] => run('lint', cwd);

/** a temp project with the repository's rules (no VCS: the temp dir is no git checkout) and the given files */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeloop-lint-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const config = JSON.parse(readFileSync(path.join(root, 'biome.json'), 'utf8')) as Record<string, unknown>;
  delete config.$schema;
  delete config.vcs;
  writeFileSync(path.join(dir, 'biome.json'), JSON.stringify(config));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const LIBRARY = ['agent', 'cloud', 'lib', 'protocol', 'transport', 'models', 'simulator'];
const PRINTING = ['bench', 'scripts', 'test', 'cli'];

describe('biome.json', () => {
  it('forbids console in library folders and allows it in bench/, scripts/, test/ and cli/', () => {
    const files = Object.fromEntries([...LIBRARY, ...PRINTING].map((d) => [`${d}/probe.ts`, "console.log('x');\n"]));
    const flagged = lint(project(files))
      .filter((f) => f.rule === 'lint/suspicious/noConsole')
      .map((f) => f.file.split('/')[0]);
    expect(flagged.sort()).toEqual([...LIBRARY].sort());
  });

  it('flags floating and misused promises and unused imports in every folder, tests included', () => {
    const code = [
      "import { join } from 'node:path';",
      'async function work(): Promise<number> { return 1; }',
      'work();',
      'if (work()) work().catch(() => undefined);',
      '',
    ].join('\n');
    const found = lint(project({ 'cli/probe.ts': code, 'test/probe.test.ts': code }));
    for (const file of ['cli/probe.ts', 'test/probe.test.ts']) {
      expect(found.filter((f) => f.file === file).map((f) => `${f.line} ${f.rule}`)).toEqual([
        '1 lint/correctness/noUnusedImports',
        '3 lint/nursery/noFloatingPromises',
        '4 lint/nursery/noMisusedPromises',
      ]);
    }
  });

  it('accepts the handled forms: await, void with .catch, an explicit presence check', () => {
    const code = [
      'async function work(): Promise<number> { return 1; }',
      'let running: Promise<number> | undefined;',
      'export async function go(): Promise<void> {',
      '  await work();',
      '  void work().catch((err: unknown) => process.stderr.write(String(err)));',
      '  if (running !== undefined) await running;',
      '  running = work();',
      '}',
      '',
    ].join('\n');
    expect(lint(project({ 'lib/probe.ts': code }))).toEqual([]);
  });

  it('catches undeclared names in .js and .mjs files, browser and Node globals known', () => {
    const found = lint(
      project({
        'cloud/dashboard/public/probe.js': 'export const t = [document.title, window.innerWidth, documnt.title];\n',
        'scripts/probe.mjs': 'export const e = [process.env.HOME, procss.env.HOME];\n',
      }),
    );
    expect(found.map((f) => `${f.file}:${f.line} ${f.rule}`).sort()).toEqual([
      'cloud/dashboard/public/probe.js:1 lint/correctness/noUndeclaredVariables',
      'scripts/probe.mjs:1 lint/correctness/noUndeclaredVariables',
    ]);
  });

  it('formats TypeScript and JavaScript only: Markdown, YAML and CSS stay as written', () => {
    const dir = project({
      'lib/probe.ts': 'export const x = {a:1}\n',
      'scripts/probe.mjs': 'export const y = {b:2}\n',
      'docs/probe.md': '| a | b |\n|---|---|\n| 1 | 2 |\n',
      'deploy/probe.yml': 'a:   1\n',
      'cloud/dashboard/public/probe.css': 'a{color:red}\n',
    });
    const files = run('format', dir)
      .map((f) => f.file)
      .filter((f) => f !== 'biome.json');
    expect(files.sort()).toEqual(['lib/probe.ts', 'scripts/probe.mjs']);
  });

  it('npm run lint / format / check run Biome, and .ci/run checks (typecheck, lint, format) before the tests', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts).toMatchObject({
      lint: 'biome lint .',
      format: 'biome format --write .',
      check: 'npm run typecheck && biome ci .',
    });
    const ci = readFileSync(path.join(root, '.ci', 'run'), 'utf8').split('\n');
    expect(ci.indexOf('npm run check')).toBeGreaterThan(ci.indexOf('npm ci'));
    expect(ci.indexOf('npm run check')).toBeLessThan(ci.indexOf('npm test'));
  });

  it('the repository lints clean', () => {
    const found = lint(root).map((f) => `${f.file}:${f.line} ${f.rule}`);
    expect(found, `lint findings (npx biome lint .):\n${found.join('\n')}`).toEqual([]);
  });
});
