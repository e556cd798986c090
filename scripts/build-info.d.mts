// Types of scripts/build-info.mjs (plain JS so bin/edgeloop.js can use it without a loader).
/** folders compiled to dist/ */
export declare const SOURCE_DIRS: readonly string[];
/** every compiled or copied file under the source folders, and the newest mtime among them */
export declare function scanSources(root: string): { files: string[]; newestMtimeMs: number };
/** true when dist/ (or `out`) exists and was built from the current sources */
export declare function distIsFresh(root: string, out?: string): boolean;
