import { configTableRows, renderConfigTable } from '../config/config-docs';
import { loadConfig } from '../config/load-config';
import { CONFIG_VARIABLES, SECRET_VARIABLES } from '../config/schema';
import type { ConfigTableIo } from '../scripts/config-table';
import {
  TABLE_END,
  TABLE_START,
  extractConfigTable,
  runConfigTable,
} from '../scripts/config-table';

// The variables of the configuration table (docs/contract.md#configuration), in its order (problems are sorted by it), then
// those of its Part 2 in the order it names them.
const SPEC_VARIABLES = [
  'PORT',
  'HOST',
  'PUBLIC_BASE_URL',
  'GENESYS_REGION',
  'GENESYS_API_BASE_URL',
  'GENESYS_LOGIN_BASE_URL',
  'OAUTH_CLIENT_ID',
  'OAUTH_CLIENT_SECRET',
  'SESSION_SECRET',
  'TOKEN_ENCRYPTION_KEY',
  'SESSION_STORE',
  'SESSION_SQLITE_PATH',
  'REDIS_URL',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_MASTER',
  'REDIS_CLUSTER_NODES',
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_TLS',
  'REDIS_TLS_CA_FILE',
  'SESSION_IDLE_TIMEOUT_SECONDS',
  'SESSION_ABSOLUTE_TIMEOUT_SECONDS',
  'SESSION_WARNING_SECONDS',
  'EVENTS_MAX_STREAMS',
  'SESSION_COOKIE_SAMESITE',
  'UPSTREAM_TIMEOUT_MS',
  'TRUST_PROXY',
  'LOG_LEVEL',
  'ADMIN_ENABLED',
  'METRICS_PORT',
  'STATIC_DIR',
  'EMBED_ORIGINS',
  'IDP_LOGOUT',
  'SHUTDOWN_DRAIN_SECONDS',
];

const VALID = {
  PUBLIC_BASE_URL: 'https://app.example.com',
  OAUTH_CLIENT_ID: 'client-id',
  SESSION_SECRET: 'a-session-secret-of-at-least-32-characters',
};

/** An in-memory CLI environment. */
function memoryIo(files: Record<string, string> = {}) {
  const output = { out: '', err: '' };
  const io: ConfigTableIo = {
    readFile: (path) => {
      const content = files[path];
      if (content === undefined) throw new Error('ENOENT');
      return content;
    },
    out: (text) => {
      output.out += text;
    },
    err: (text) => {
      output.err += text;
    },
  };
  return { io, output };
}

describe('configuration docs', () => {
  it('cover exactly the variables of the configuration table, in its order', () => {
    expect(CONFIG_VARIABLES).toEqual(SPEC_VARIABLES);
    expect(configTableRows.map((row) => row.variable)).toEqual(SPEC_VARIABLES);
  });

  it('give every variable a one-line meaning and a default', () => {
    for (const row of configTableRows) {
      expect(row.meaning).toMatch(/^\S.*\S$/);
      expect(row.meaning).not.toContain('\n');
      expect(row.default).not.toBe('');
    }
  });

  it('mark the five secrets and say they may come from NAME_FILE', () => {
    expect(SECRET_VARIABLES).toEqual([
      'OAUTH_CLIENT_SECRET',
      'SESSION_SECRET',
      'TOKEN_ENCRYPTION_KEY',
      'REDIS_URL',
      'REDIS_PASSWORD',
    ]);
    for (const row of configTableRows) {
      const mentionsFile = row.meaning.includes(`\`${row.variable}_FILE\``);
      expect([row.variable, mentionsFile]).toEqual([
        row.variable,
        SECRET_VARIABLES.includes(row.variable as (typeof SECRET_VARIABLES)[number]),
      ]);
    }
  });

  it('show required variables as required', () => {
    const required = configTableRows.filter((row) => row.default === '— (required)');
    expect(required.map((row) => row.variable)).toEqual([
      'PUBLIC_BASE_URL',
      'OAUTH_CLIENT_ID',
      'SESSION_SECRET',
    ]);
  });

  // A documented default that loadConfig did not apply would mislead every operator.
  it.each(
    configTableRows.filter((row) => /^`[^`]*`$/.test(row.default) && !row.default.includes('{')),
  )('documents the default that loadConfig applies for $variable', (row) => {
    const literal = row.default.slice(1, -1);
    expect(loadConfig({ ...VALID, [row.variable]: literal })).toEqual(loadConfig(VALID));
  });

  it('render as a markdown table, one row per variable', () => {
    const lines = renderConfigTable().split('\n');
    expect(lines.slice(0, 2)).toEqual(['| variable | default | meaning |', '|---|---|---|']);
    expect(lines).toHaveLength(2 + SPEC_VARIABLES.length);
    expect(lines[2]).toBe('| `PORT` | `3000` | TCP port of the listener |');
    for (const line of lines) {
      // Exactly four unescaped pipes: three cells.
      expect(line.replace(/\\\|/g, '').split('|')).toHaveLength(5);
    }
  });

  it('escape a pipe inside a cell', () => {
    expect(renderConfigTable([{ variable: 'X', default: '`a|b`', meaning: 'm' }])).toContain(
      '| `X` | `a\\|b` | m |',
    );
  });
});

describe('scripts/config-table', () => {
  const table = renderConfigTable();
  const readme = (body: string) =>
    `# tokens-bff\n\n## Configuration\n${TABLE_START}\n${body}\n${TABLE_END}\n\nMore text.\n`;

  it('prints the table', () => {
    const { io, output } = memoryIo();
    expect(runConfigTable([], io)).toBe(0);
    expect(output.out).toBe(`${table}\n`);
  });

  it('--check passes when README holds the current table', () => {
    const { io, output } = memoryIo({ 'README.md': readme(table).replace(/\n/g, '\r\n') });
    expect(runConfigTable(['--check', 'README.md'], io)).toBe(0);
    expect(output.err).toBe('');
  });

  it('--check fails when README holds a stale table', () => {
    const stale = table.replace('TCP port of the listener', 'the port');
    const { io, output } = memoryIo({ 'README.md': readme(stale) });
    expect(runConfigTable(['--check', 'README.md'], io)).toBe(1);
    expect(output.err).toContain('README.md: the configuration table is out of date');
  });

  it('--check fails when README has no markers or cannot be read', () => {
    const { io } = memoryIo({ 'README.md': `# tokens-bff\n${table}\n` });
    expect(runConfigTable(['--check', 'README.md'], io)).toBe(1);
    expect(runConfigTable(['--check', 'MISSING.md'], io)).toBe(1);
  });

  it('refuses unknown arguments', () => {
    const { io, output } = memoryIo();
    expect(runConfigTable(['--fix'], io)).toBe(2);
    expect(output.err).toContain('usage');
  });

  it('extracts only what lies between the markers', () => {
    expect(extractConfigTable(readme('| a |'))).toBe('| a |');
    expect(extractConfigTable(`${TABLE_END}\n${TABLE_START}`)).toBeUndefined();
  });
});
