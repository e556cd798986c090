#!/usr/bin/env node
// The edge agent's own install: `npm run pack:agent` writes edgeloop-agent-<version>-linux-<arch>.tgz with
//   bin/edgeloop.js       the agent command bundled by esbuild (+ bin/chunks/: its pure-JS dependencies inside,
//                         loaded on demand as in the repository; the other commands left out)
//   bin/edgeloop-agent    the same launcher as the repository's (device memory profile of deploy/agent.env)
//   deploy/               agent.env and the systemd unit; docs/ the agent's reference page and deployment guide
//   models/default/       the default anomaly model and the key that signed it
//   node_modules/         only the native runtime dependencies, each with this platform's binaries only:
//                         onnxruntime-node (+ onnxruntime-common), better-sqlite3 (+ bindings),
//                         aws-iot-device-sdk-v2 / aws-crt (+ their JS dependencies)
// instead of the whole toolkit's ~900 MB node_modules (TensorFlow.js, DuckDB, every platform's ONNX Runtime).
// It packs for the machine it runs on (better-sqlite3's binary is the one `npm install` built or fetched here), and
// prints the artifact and installed sizes, plus the other architecture's estimate from the package contents.
//
//   node scripts/pack-agent.mjs [--out DIR] [--zip] [--json]
//     --out DIR   where to write (default: the repository root)
//     --zip       also write edgeloop-agent.zip with the same files at its top level: the Greengrass artifact
//                 (deploy/greengrass/recipe.yaml; the nucleus unzips it to {artifacts:decompressedPath}/edgeloop-agent/)
//     --json      print the figures as one JSON line on stdout
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** the agent's packages that stay outside the bundle: native code, or a native binding found by path at run time */
export const NATIVE_ROOTS = ['better-sqlite3', 'onnxruntime-node', 'aws-iot-device-sdk-v2'];
/** dependencies not loaded at run time: install-script helpers (binary downloads) and type declarations */
export const NOT_AT_RUN_TIME = new Set(['prebuild-install', 'global-agent', 'adm-zip', '@types/node', '@types/ws']);

/** what to delete inside each package for `arch` (paths relative to the package; `*` = every entry of a folder) */
export function pruneRules(arch) {
  const ortKeep = `bin/napi-v6/linux/${arch}`;
  const crtKeep = `dist/bin/linux-${arch}-glibc`;
  return {
    'onnxruntime-node': {
      keepOnly: { 'bin/napi-v6': ['linux'], 'bin/napi-v6/linux': [arch] },
      remove: ['script'],
      check: ortKeep,
    },
    'aws-crt': {
      keepOnly: { 'dist/bin': [`linux-${arch}-glibc`] },
      remove: ['dist.browser', 'lib', 'source', 'scripts'],
      check: crtKeep,
    },
    'better-sqlite3': {
      keepOnly: { build: ['Release'], 'build/Release': ['better_sqlite3.node'] },
      remove: ['deps', 'src'],
      check: 'build/Release/better_sqlite3.node',
    },
  };
}

/**
 * The packages (package-lock keys, `node_modules/...`) that `roots` need at run time, resolved as Node resolves
 * them (nested first, then up the tree); `skip` names are not followed.
 */
export function dependencyClosure(lockPackages, roots, skip = NOT_AT_RUN_TIME) {
  const seen = new Set();
  const stack = roots.map((name) => ['', name]);
  while (stack.length > 0) {
    const [from, name] = stack.pop();
    if (skip.has(name)) continue;
    let key;
    for (let base = from; ; ) {
      const candidate = `${base ? base + '/' : ''}node_modules/${name}`;
      if (lockPackages[candidate]) {
        key = candidate;
        break;
      }
      if (!base) break;
      const i = base.lastIndexOf('/node_modules/');
      base = i < 0 ? '' : base.slice(0, i);
    }
    if (!key) throw new Error(`pack-agent: ${name} (needed by ${from || 'the agent'}) is not in package-lock.json`);
    if (seen.has(key)) continue;
    seen.add(key);
    const entry = lockPackages[key];
    if (entry.dev) throw new Error(`pack-agent: ${key} is a dev dependency in package-lock.json`);
    for (const dep of Object.keys(entry.dependencies ?? {})) stack.push([key, dep]);
  }
  return [...seen].sort();
}

/** file name of the tarball */
export function artifactName(version, arch) {
  return `edgeloop-agent-${version}-linux-${arch}`;
}

/** bytes of every file under `path` (apparent sizes; symbolic links count as themselves) */
export function treeBytes(path) {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of readdirSync(path)) total += treeBytes(join(path, e));
  return total;
}

function prune(pkgDir, rule) {
  for (const [folder, keep] of Object.entries(rule.keepOnly)) {
    const dir = join(pkgDir, folder);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir)) if (!keep.includes(e)) rmSync(join(dir, e), { recursive: true, force: true });
  }
  for (const r of rule.remove) rmSync(join(pkgDir, r), { recursive: true, force: true });
  if (!existsSync(join(pkgDir, rule.check)))
    throw new Error(`pack-agent: ${pkgDir} has no ${rule.check} for this platform`);
}

/**
 * The esbuild bundle of the agent command: cli/main.ts with every other command left out. Split into chunks so the
 * modules the CLI imports on demand stay on demand (an mqtt agent never loads the AWS CRT, as in the repository).
 */
async function bundle(binDir) {
  const { build } = await import('esbuild');
  await build({
    absWorkingDir: root,
    entryPoints: [{ in: 'scripts/pack-agent-entry.ts', out: 'edgeloop' }],
    outdir: binDir,
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: NATIVE_ROOTS,
    logLevel: 'warning',
    legalComments: 'none',
    // CommonJS dependencies inside an ES module bundle call require() for Node built-ins
    banner: {
      js: "import { createRequire as __edgeloopRequire } from 'node:module';\nconst require = __edgeloopRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'agent-only',
        setup(b) {
          b.onResolve({ filter: /^\.\/commands\// }, (a) =>
            a.path === './commands/agent.ts' ? undefined : { path: a.path, namespace: 'not-packed' },
          );
          b.onLoad({ filter: /.*/, namespace: 'not-packed' }, () => ({
            contents:
              "throw new Error('the edgeloop-agent package holds the agent command only; install the edgeloop toolkit for the others');",
            loader: 'js',
          }));
        },
      },
    ],
  });
}

export async function packAgent({ out = root, zip = false } = {}) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const arch = process.arch;
  if (process.platform !== 'linux' || !['x64', 'arm64'].includes(arch))
    throw new Error(`pack-agent: packs for linux x64 or arm64, this is ${process.platform}/${arch}`);
  const name = artifactName(pkg.version, arch);
  mkdirSync(out, { recursive: true });
  const work = join(out, `.${name}.tmp`);
  const dir = join(work, name);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(dir, 'bin'), { recursive: true });
  try {
    await bundle(join(dir, 'bin'));
    cpSync(join(root, 'bin', 'edgeloop-agent'), join(dir, 'bin', 'edgeloop-agent'));
    cpSync(join(root, 'deploy', 'agent.env'), join(dir, 'deploy', 'agent.env'));
    cpSync(join(root, 'deploy', 'systemd'), join(dir, 'deploy', 'systemd'), { recursive: true });
    // the unit's Documentation= and the operator's guide
    for (const d of ['agent.md', 'deploy-raspberry-pi.md']) cpSync(join(root, 'docs', d), join(dir, 'docs', d));
    for (const m of ['anomaly', 'keys'])
      cpSync(join(root, 'models', 'default', m), join(dir, 'models', 'default', m), { recursive: true });
    const packages = dependencyClosure(lock.packages, NATIVE_ROOTS);
    const rules = pruneRules(arch);
    for (const key of packages) {
      cpSync(join(root, key), join(dir, key), { recursive: true, dereference: true });
      const rule = rules[key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length)];
      if (rule) prune(join(dir, key), rule);
    }
    const versions = Object.fromEntries(
      packages.map((k) => [k.slice('node_modules/'.length), lock.packages[k].version]),
    );
    // package.json named edgeloop: lib/package-root.ts finds the version and shipped files through it
    const manifest = {
      name: 'edgeloop',
      version: pkg.version,
      description: `edgeloop edge agent for linux-${arch} (packed by scripts/pack-agent.mjs)`,
      license: pkg.license,
      private: true,
      type: 'module',
      engines: pkg.engines,
      bin: { 'edgeloop-agent': 'bin/edgeloop-agent' },
      bundledPackages: versions,
    };
    writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
    const tgz = join(out, `${name}.tgz`);
    execFileSync('tar', ['-czf', tgz, '-C', work, name]);
    let zipFile;
    if (zip) {
      zipFile = join(out, 'edgeloop-agent.zip');
      rmSync(zipFile, { force: true });
      execFileSync('zip', ['-qry', zipFile, '.'], { cwd: dir });
    }
    const installedBytes = treeBytes(dir);
    const other = arch === 'x64' ? 'arm64' : 'x64';
    const binaries = (a) =>
      treeBytes(join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', a)) +
      treeBytes(join(root, 'node_modules', 'aws-crt', 'dist', 'bin', `linux-${a}-glibc`));
    return {
      name,
      arch,
      tgz,
      zip: zipFile,
      artifactBytes: statSync(tgz).size,
      installedBytes,
      packages: packages.length,
      // same files with the other architecture's ONNX Runtime and aws-crt binaries (better-sqlite3's counted as this one's)
      estimate: { arch: other, installedBytes: installedBytes - binaries(arch) + binaries(other) },
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const outAt = argv.indexOf('--out');
  try {
    const r = await packAgent({ out: outAt >= 0 ? resolve(argv[outAt + 1]) : root, zip: argv.includes('--zip') });
    if (argv.includes('--json')) process.stdout.write(JSON.stringify(r) + '\n');
    else {
      process.stdout.write(
        `${r.tgz}: ${mb(r.artifactBytes)}, installed ${mb(r.installedBytes)} (${r.packages} packages in node_modules)\n`,
      );
      if (r.zip) process.stdout.write(`${r.zip}: the Greengrass artifact (same files)\n`);
      process.stdout.write(
        `linux-${r.estimate.arch} from the package contents: installed ~${mb(r.estimate.installedBytes)}\n`,
      );
    }
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 1;
  }
}
