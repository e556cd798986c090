/**
 * Writes docs/errors.md from every `<PART>_ERROR_CODES` table in the source tree (single source of truth).
 * Run: npm run docs:errors. test/errors.test.ts fails when a code is missing from the docs.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const files: string[] = [];
const walk = (d: string): void => {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (n === 'node_modules' || n.startsWith('.')) continue;
    if (statSync(p).isDirectory()) walk(p);
    else if (n === 'errors.ts') files.push(p);
  }
};
for (const d of ['protocol', 'agent', 'cloud', 'models', 'simulator', 'cli', 'lib', 'transport', 'deploy']) {
  try {
    walk(join(root, d));
  } catch {
    /* part not present */
  }
}
const lines = [
  '# Error codes',
  '',
  'Every error edgeloop raises is an `EdgeloopError` with a stable `code` (match on `err.code`, never on the',
  'message) and, where there is one, the underlying `cause`. The CLI prints `edgeloop <command>: <message> [<code>]`',
  'and exits with status 1; a wrong flag or argument prints `edgeloop <command>: --flag: what was wrong (expected …)`',
  'and exits with status 2 (`EL_ERR_USAGE`). This page is generated from the code by `npm run docs:errors`.',
  '',
];
for (const f of files.sort()) {
  const mod = (await import(f)) as Record<string, Record<string, string>>;
  for (const [name, table] of Object.entries(mod)) {
    if (!name.endsWith('_ERROR_CODES')) continue;
    lines.push(
      `## ${name.replace(/_ERROR_CODES$/, '').toLowerCase()} (\`${relative(root, f)}\`)`,
      '',
      '| code | meaning |',
      '|---|---|',
    );
    for (const [code, text] of Object.entries(table)) lines.push(`| \`${code}\` | ${text} |`);
    lines.push('');
  }
}
writeFileSync(join(root, 'docs', 'errors.md'), lines.join('\n'));
console.log(`docs/errors.md: ${files.length} tables`);
