// What dist/ is built from, and whether it is still up to date (shared by scripts/build.mjs and bin/edgeloop.js;
// plain JS so the check costs no loader). Fresh = same number of source files and none newer than at build time.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** folders compiled to dist/ (tests, benches and scripts run from source) */
export const SOURCE_DIRS = ['agent', 'cloud', 'cli', 'lib', 'models', 'protocol', 'simulator', 'transport'];

/** every compiled or copied file under the source folders (models/default and tests excluded) */
export function scanSources(root) {
  const files = [];
  let newestMtimeMs = 0;
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === 'node_modules' || p === join(root, 'models', 'default')) continue;
        walk(p);
      } else if (e.isFile() && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) {
        files.push(p);
        newestMtimeMs = Math.max(newestMtimeMs, statSync(p).mtimeMs);
      }
    }
  };
  for (const d of SOURCE_DIRS) walk(join(root, d));
  return { files, newestMtimeMs };
}

/** true when dist/ (or `out`) exists and was built from the current sources */
export function distIsFresh(root, out = join(root, 'dist')) {
  let info;
  try {
    info = JSON.parse(readFileSync(join(out, 'build-info.json'), 'utf8'));
  } catch {
    return false;
  }
  const now = scanSources(root);
  return info.sources === now.files.length && now.newestMtimeMs <= info.newestMtimeMs;
}
