import fs from 'node:fs';
import { renderConfigTable } from '../config/config-docs';

/** Markers around the generated table in README.md. */
export const TABLE_START = '<!-- config-table:start -->';
export const TABLE_END = '<!-- config-table:end -->';

/** The text between the markers, trimmed, or undefined when either marker is missing. */
export function extractConfigTable(readme: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END, start + TABLE_START.length);
  if (start === -1 || end === -1) return undefined;
  return readme
    .slice(start + TABLE_START.length, end)
    .replace(/\r\n/g, '\n')
    .trim();
}

/** Where the CLI reads and writes; injectable so tests need no files or process streams. */
export interface ConfigTableIo {
  readFile(path: string): string;
  out(text: string): void;
  err(text: string): void;
}

const processIo: ConfigTableIo = {
  readFile: (path) => fs.readFileSync(path, 'utf8'),
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/**
 * The CLI. No arguments: prints the markdown configuration table. `--check README.md`: exits 1
 * when README's table between the markers differs from the schema (CI keeps the docs honest).
 * Returns the exit code.
 */
export function runConfigTable(args: readonly string[], io: ConfigTableIo = processIo): number {
  const table = renderConfigTable();
  if (args.length === 0) {
    io.out(`${table}\n`);
    return 0;
  }
  const [flag, path, ...rest] = args;
  if (flag !== '--check' || path === undefined || rest.length > 0) {
    io.err('usage: config-table [--check README.md]\n');
    return 2;
  }
  let readme: string;
  try {
    readme = io.readFile(path);
  } catch {
    io.err(`${path}: cannot read\n`);
    return 1;
  }
  const current = extractConfigTable(readme);
  if (current === undefined) {
    io.err(`${path}: no ${TABLE_START} … ${TABLE_END} section\n`);
    return 1;
  }
  if (current !== table) {
    io.err(`${path}: the configuration table is out of date; regenerate it with config-table\n`);
    return 1;
  }
  return 0;
}

if (require.main === module) {
  process.exitCode = runConfigTable(process.argv.slice(2));
}
