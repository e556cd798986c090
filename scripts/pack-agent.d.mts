// Types of scripts/pack-agent.mjs (plain JS, run by `npm run pack:agent` without a loader).
export declare const NATIVE_ROOTS: readonly string[];
export declare const NOT_AT_RUN_TIME: ReadonlySet<string>;
export interface PruneRule {
  keepOnly: Record<string, string[]>;
  remove: string[];
  check: string;
}
export declare function pruneRules(arch: string): Record<string, PruneRule>;
export declare function dependencyClosure(
  lockPackages: Record<string, { version?: string; dev?: boolean; dependencies?: Record<string, string> }>,
  roots: readonly string[],
  skip?: ReadonlySet<string>,
): string[];
export declare function artifactName(version: string, arch: string): string;
export declare function treeBytes(path: string): number;
export interface PackResult {
  name: string;
  arch: string;
  tgz: string;
  zip: string | undefined;
  artifactBytes: number;
  installedBytes: number;
  packages: number;
  estimate: { arch: string; installedBytes: number };
}
export declare function packAgent(opts?: { out?: string; zip?: boolean }): Promise<PackResult>;
