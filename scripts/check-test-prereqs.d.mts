// Types of scripts/check-test-prereqs.mjs (plain JS so .ci/run can call it before any dependency is installed).
export interface Prereq {
  command: string;
  aptPackage: string;
  neededBy: string;
}
export declare const PREREQS: readonly Prereq[];
export declare function aptPackages(prereqs?: readonly Prereq[]): string[];
export declare function installCommand(packages: readonly string[], opts: { root: boolean }): string;
export type Decision =
  | { action: 'ok' }
  | { action: 'install'; packages: string[]; sudo: boolean; message: string }
  | { action: 'fail'; message: string };
export declare function decide(facts: {
  missing: readonly Prereq[];
  root: boolean;
  hasApt: boolean;
  hasSudo: boolean;
  allowSudo: boolean;
}): Decision;
export declare function onPath(command: string, path?: string): boolean;
export declare function main(argv?: string[]): number;
