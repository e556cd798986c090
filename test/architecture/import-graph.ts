/**
 * The repository's import graph, read with the TypeScript compiler API (typescript/unstable/sync: the tsgo
 * server behind typescript 7). Every .ts/.mts/.mjs/.js file of the given folders is parsed; each module
 * specifier TypeScript records for a file (`SourceFile.imports`: `import`, `import type`, `export … from`,
 * `import()` calls and `import('…')` types) that is relative becomes an edge. Package specifiers (`zod`,
 * `node:fs`) are not edges: they cannot form a layer violation or a cycle inside the repository.
 *
 * A specifier computed at run time (`import(variable)`) is invisible here, as it is to tsc.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SyntaxKind } from 'typescript/unstable/ast';
import { API } from 'typescript/unstable/sync';

export interface ImportEdge {
  /** repository-relative, '/'-separated */
  from: string;
  to: string;
  /** the specifier as written */
  specifier: string;
  /** true for `import type`, `export type … from` and `import('…')` types: erased at run time, still a dependency */
  typeOnly: boolean;
}

export interface ImportGraph {
  files: string[];
  edges: ImportEdge[];
  /** relative specifiers that name no file (a broken import would otherwise hide an edge) */
  unresolved: ImportEdge[];
}

const SOURCE_EXTENSIONS = ['.ts', '.mts', '.mjs', '.js'];

/** A tsconfig seen only by the API server: the repository's options, plus JavaScript files, over `folders`. */
function graphConfig(root: string, folders: readonly string[]): string {
  return JSON.stringify({
    extends: './tsconfig.json',
    compilerOptions: { allowJs: true, checkJs: false, noEmit: true },
    include: folders.flatMap((f) => SOURCE_EXTENSIONS.map((ext) => `${f}/**/*${ext}`)),
    exclude: ['**/node_modules/**', '**/fixtures/**', '**/public/**', '**/*.d.mts', '**/*.d.ts'],
  });
}

function isTypeOnly(spec: { parent?: unknown }): boolean {
  const parent = spec.parent as
    | { kind?: number; isTypeOnly?: boolean; importClause?: { isTypeOnly?: boolean }; parent?: { kind?: number } }
    | undefined;
  if (!parent) return false;
  if (parent.kind === SyntaxKind.ImportDeclaration) return parent.importClause?.isTypeOnly === true;
  if (parent.kind === SyntaxKind.ExportDeclaration) return parent.isTypeOnly === true;
  // `import('x').T` in a type position: the literal sits in a LiteralType inside an ImportType
  return parent.kind === SyntaxKind.LiteralType && parent.parent?.kind === SyntaxKind.ImportType;
}

function resolveSpecifier(fromAbs: string, specifier: string): string | undefined {
  const target = path.resolve(path.dirname(fromAbs), specifier);
  if (existsSync(target) && SOURCE_EXTENSIONS.some((e) => target.endsWith(e))) return target;
  // `./x.js` written for `./x.ts` (TypeScript's own convention)
  const ts = target.replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts');
  if (ts !== target && existsSync(ts)) return ts;
  return undefined;
}

/** `../dist/agent/create-agent.js` (the build output, scripts/build.mjs) stands for its source `agent/create-agent.ts`. */
function sourceOfBuilt(root: string, fromAbs: string, specifier: string): string | undefined {
  const rel = path.relative(path.join(root, 'dist'), path.resolve(path.dirname(fromAbs), specifier));
  if (rel.startsWith('..')) return undefined;
  const source = path.join(root, rel.replace(/\.js$/, '.ts'));
  return existsSync(source) ? source : undefined;
}

export function readImportGraph(root: string, folders: readonly string[]): ImportGraph {
  const configPath = path.join(root, 'tsconfig.import-graph.json');
  const config = graphConfig(root, folders);
  const api = new API({
    cwd: root,
    fs: {
      readFile: (f) => (path.resolve(f) === configPath ? config : undefined),
      fileExists: (f) => (path.resolve(f) === configPath ? true : undefined),
    },
  });
  try {
    const project = api.updateSnapshot({ openProject: configPath }).getProjects()[0];
    if (!project) throw new Error(`the TypeScript API opened no project for ${configPath}`);
    const rel = (abs: string) => path.relative(root, abs).split(path.sep).join('/');
    const inside = (r: string) =>
      !r.startsWith('..') &&
      !r.includes('node_modules/') &&
      !/\.d\.m?ts$/.test(r) &&
      folders.includes(r.split('/')[0] ?? '');
    const files = project.program.getSourceFileNames().map(rel).filter(inside).sort();
    const edges: ImportEdge[] = [];
    const unresolved: ImportEdge[] = [];
    for (const file of files) {
      const abs = path.join(root, file);
      const sf = project.program.getSourceFile(abs);
      if (!sf) throw new Error(`the TypeScript API has no source file for ${file}`);
      for (const spec of sf.imports) {
        const specifier = (spec as unknown as { text: string }).text;
        if (!specifier.startsWith('.')) continue;
        const to = resolveSpecifier(abs, specifier) ?? sourceOfBuilt(root, abs, specifier);
        const edge = { from: file, to: to ? rel(to) : specifier, specifier, typeOnly: isTypeOnly(spec) };
        (to ? edges : unresolved).push(edge);
      }
    }
    return { files, edges, unresolved };
  } finally {
    api.close();
  }
}
