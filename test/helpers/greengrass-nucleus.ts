/**
 * What the Greengrass v2 nucleus does with a component recipe, reduced to the parts a recipe can get wrong:
 *   - pick the manifest for this platform (os + architecture, nucleus names: aarch64 / amd64),
 *   - unzip each `Unarchive: ZIP` artifact into `<decompressedPath>/<zip file name without .zip>/`,
 *   - interpolate `{artifacts:decompressedPath}`, `{artifacts:path}`, `{work:path}`, `{iot:thingName}` and
 *     `{configuration:/pointer}` into the lifecycle scripts (an unknown or unset variable is an error, where the
 *     nucleus would leave the text in place and the script fail later),
 *   - run a lifecycle step as `sh -c <script>` in the work folder.
 * The pure parts (manifest choice, interpolation, artifact folder) are apart from the process-running part.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { basename, join } from 'node:path';

export interface RecipeManifest {
  Platform?: { os?: string; architecture?: string };
  Lifecycle?: Record<string, unknown>;
  Artifacts?: Array<{ URI: string; Unarchive?: string }>;
}

export interface Recipe {
  ComponentName: string;
  ComponentVersion: string;
  ComponentConfiguration?: { DefaultConfiguration?: Record<string, unknown> };
  Manifests: RecipeManifest[];
}

export interface NucleusPaths {
  /** {artifacts:path}: the artifacts as downloaded */
  artifactsPath: string;
  /** {artifacts:decompressedPath}: where the nucleus unpacks archives */
  decompressedPath: string;
  /** {work:path}: the component's writable folder (the lifecycle's working directory) */
  workPath: string;
  thingName: string;
}

/** the nucleus' name for Node's `process.arch` */
export function nucleusArchitecture(arch: string = process.arch): string {
  const names: Record<string, string> = { arm64: 'aarch64', x64: 'amd64', arm: 'arm' };
  return names[arch] ?? arch;
}

/** the first manifest whose platform matches (a missing field matches anything), as the nucleus chooses */
export function selectManifest(recipe: Recipe, os: string, architecture: string): RecipeManifest {
  const m = recipe.Manifests.find(
    (x) =>
      (!x.Platform?.os || x.Platform.os === os) &&
      (!x.Platform?.architecture || x.Platform.architecture === architecture),
  );
  if (!m) throw new Error(`${recipe.ComponentName}: no manifest for ${os}/${architecture}`);
  return m;
}

/** the folder the nucleus unzips an artifact into: `<decompressedPath>/<file name without .zip>` */
export function artifactFolder(decompressedPath: string, uri: string): string {
  return join(decompressedPath, basename(uri).replace(/\.zip$/i, ''));
}

/** the value of a JSON pointer (`/a/b`) in a configuration object, or undefined */
function pointer(config: Record<string, unknown>, path: string): unknown {
  let v: unknown = config;
  for (const raw of path.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** interpolate the recipe variables of `script`; throws naming every variable it cannot resolve */
export function interpolate(script: string, paths: NucleusPaths, configuration: Record<string, unknown>): string {
  const unresolved: string[] = [];
  const out = script.replace(/\{([a-zA-Z]+):([^{}\s]+)\}/g, (whole, ns: string, key: string) => {
    let v: unknown;
    if (ns === 'artifacts' && key === 'decompressedPath') v = paths.decompressedPath;
    else if (ns === 'artifacts' && key === 'path') v = paths.artifactsPath;
    else if (ns === 'work' && key === 'path') v = paths.workPath;
    else if (ns === 'iot' && key === 'thingName') v = paths.thingName;
    else if (ns === 'configuration' && key.startsWith('/')) v = pointer(configuration, key);
    if (v === undefined || (typeof v === 'object' && v !== null)) {
      unresolved.push(whole);
      return whole;
    }
    return String(v);
  });
  if (unresolved.length > 0) throw new Error(`unresolved recipe variables: ${unresolved.join(', ')}`);
  return out;
}

/** the script of a lifecycle step (`Install: { Script }` or `Install: "script"`) */
export function lifecycleScript(manifest: RecipeManifest, step: string): string {
  const s = manifest.Lifecycle?.[step];
  if (typeof s === 'string') return s;
  if (typeof s === 'object' && s !== null && typeof (s as { Script?: unknown }).Script === 'string')
    return (s as { Script: string }).Script;
  throw new Error(`no ${step} script in the manifest`);
}

/** run one interpolated lifecycle script as the nucleus does: `sh -c`, in the work folder */
export function spawnLifecycle(
  script: string,
  paths: NucleusPaths,
  env: NodeJS.ProcessEnv = process.env,
): ChildProcess {
  return spawn('sh', ['-c', script], {
    cwd: paths.workPath,
    env: { ...env, AWS_IOT_THING_NAME: paths.thingName },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
