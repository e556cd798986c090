/**
 * The commands package.json declares, run the way the README tells a user in a clone: `npx edgeloop ...` and
 * `npx edgeloop-agent ...` (npm runs the project's own bins; `--offline` so a bin that is not declared fails here
 * instead of being looked up on the registry).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };

describe('package bins', () => {
  it('declares edgeloop and edgeloop-agent, both executable with a shebang', () => {
    expect(Object.keys(pkg.bin).sort()).toEqual(['edgeloop', 'edgeloop-agent']);
    for (const file of Object.values(pkg.bin)) {
      accessSync(join(root, file), constants.X_OK);
      expect(readFileSync(join(root, file), 'utf8').startsWith('#!')).toBe(true);
    }
  });

  it.each([
    ['edgeloop', ['--help'], 'usage: edgeloop <command>'],
    ['edgeloop-agent', ['--help'], 'usage: edgeloop agent --config FILE'],
  ])('npx %s %s runs the command', (bin, args, usage) => {
    const r = spawnSync('npm', ['exec', '--offline', '--', bin, ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(usage);
  });

  it('the README says how to run them from a clone', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('npx edgeloop');
    expect(readme).toContain('npm link');
  });
});
