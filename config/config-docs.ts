import { CONFIG_VARIABLES, variableDoc } from './schema';

/** One row of the README configuration table; `default` and `meaning` are markdown. */
export interface ConfigTableRow {
  readonly variable: string;
  readonly default: string;
  readonly meaning: string;
}

/**
 * The README configuration table, one row per variable in the order of config/schema.ts, built from the docs
 * registered with the schema so that README and code cannot disagree.
 */
export const configTableRows: readonly ConfigTableRow[] = Object.freeze(
  CONFIG_VARIABLES.map((variable) => {
    const doc = variableDoc(variable);
    const meaning = doc.secret
      ? `${doc.meaning}; or \`${variable}_FILE\`: path of a file holding it`
      : doc.meaning;
    return Object.freeze({ variable, default: doc.default, meaning });
  }),
);

/** A table cell: a literal `|` would end the cell, and a newline would end the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** Renders the rows as a markdown table (no trailing newline). */
export function renderConfigTable(rows: readonly ConfigTableRow[] = configTableRows): string {
  return [
    '| variable | default | meaning |',
    '|---|---|---|',
    ...rows.map((row) => `| \`${row.variable}\` | ${cell(row.default)} | ${cell(row.meaning)} |`),
  ].join('\n');
}
