/**
 * The edgeloop package's root folder (the one holding its package.json), found by walking up from this file. The
 * answer is the same whether the sources run as TypeScript (tsx, vitest) or from the compiled `dist/` tree, so
 * shipped files (models/default, package.json) are always found.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findRoot(from: string): { root: string; version: string } {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'edgeloop') return { root: dir, version: pkg.version ?? '0.0.0' };
    }
    if (dirname(dir) === dir) throw new Error(`edgeloop: no package.json of edgeloop above ${from}`);
  }
}

const found = findRoot(import.meta.dirname);

/** absolute path of the package root */
export const PACKAGE_ROOT: string = found.root;
/** the package's version (package.json) */
export const PACKAGE_VERSION: string = found.version;

/** an absolute path inside the package, e.g. packagePath('models', 'default', 'anomaly') */
export function packagePath(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}
