import { join, relative } from 'node:path';
import ts from 'typescript';

export const root = join(import.meta.dirname, '..', '..');

/**
 * Type-checks code as a consumer's module would be (strict, ESM, no synthetic default imports),
 * with `raft-metadata` resolved to this repository's sources. `files` are served from memory (name
 * relative to the repository's root: code), `paths` are files of the repository to check too
 * (JavaScript is checked as with `// @ts-check`). Returns tsc's messages by file.
 */
export function typeCheck(
  files: Record<string, string>,
  paths: readonly string[] = [],
): Record<string, string[]> {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2024.d.ts', 'lib.esnext.disposable.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    esModuleInterop: false,
    allowSyntheticDefaultImports: false,
    skipLibCheck: true,
    allowJs: true,
    checkJs: true,
    noEmit: true,
    paths: {
      'raft-metadata': [join(root, 'src', 'index.ts')],
      'raft-metadata/testing': [join(root, 'src', 'testing', 'index.ts')],
    },
  };
  // The snippets are served from memory under the repository's root (an ESM package), so that
  // @types/node resolves as it does for the repository's own files.
  const virtual = new Map(Object.entries(files).map(([name, code]) => [join(root, name), code]));
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile } = host;
  host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
  host.readFile = (name) => virtual.get(name) ?? readFile.call(host, name);
  const roots = [...virtual.keys(), ...paths.map((path) => join(root, path))];
  const program = ts.createProgram(roots, options, host);
  const names = [...Object.keys(files), ...paths];
  const messages: Record<string, string[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const name = diagnostic.file === undefined ? 'global' : relative(root, diagnostic.file.fileName);
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    messages[name] = [...(messages[name] ?? []), text];
  }
  return messages;
}
