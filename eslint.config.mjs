import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NO_TEST_TREE = {
  group: ['**/test/**', '../test/*', '../../test/*'],
  message: 'server/ must not import test/.',
};

const NO_EMULATOR = {
  group: ['**/emulator', '**/emulator/**'],
  message: 'server/ must not import the emulator (it stands in for Genesys in tests and the demo).',
};

/** Forbids the files under `room` to import from the rooms named in `above`. */
function fence(room, above) {
  const group = above.flatMap((r) => [`../${r}/*`, `../../${r}/*`, `../../../${r}/*`]);
  return {
    files: [`${room}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            NO_TEST_TREE,
            NO_EMULATOR,
            {
              group,
              message: `${room} may not import from ${above.join(', ')}: see the rooms in docs/architecture.md.`,
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**', 'jest.config.js'] },
  js.configs.recommended,
  // Type-aware: in a codebase of async handlers, a promise nobody awaits or one handed to a
  // callback that ignores it is a bug the types can see.
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Passing on a rejection or error a callback handed us (typed unknown) is not making one up.
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
      // The memory and SQLite stores are synchronous behind the stores' promise interface.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // jest's asymmetric matchers (expect.any, objectContaining) are typed any by design.
    files: ['test/**/*.ts', 'emulator/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // JavaScript outside the TypeScript project: no type information to check against.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The demo page's script runs in the browser, as an ES module importing the client module.
    files: ['demo/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: {
        document: 'readonly',
        fetch: 'readonly',
        window: 'readonly',
        setInterval: 'readonly',
      },
    },
  },
  {
    // Only the config loader and the composition root read the environment (STYLE.md §2).
    files: [
      'server/**/*.ts',
      'test/**/*.ts',
      'emulator/**/*.ts',
      'scripts/**/*.ts',
      'bench/**/*.ts',
    ],
    ignores: ['server/main.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through loadConfig().' },
      ],
    },
  },
  {
    // Production code never reaches into the test tree or the emulator.
    files: ['server/**/*.ts', 'config/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_TEST_TREE, NO_EMULATOR] }] },
  },
  // The rooms of server/, top to bottom: http (the listener and the app that composes the rest)
  // → routes → session → genesys and stores → core. A room imports only the rooms below it, so
  // nothing calls back up (docs/architecture.md).
  fence('server/routes', ['http', 'stores']),
  fence('server/session', ['http', 'routes']),
  fence('server/genesys', ['http', 'routes', 'session', 'stores']),
  fence('server/stores', ['http', 'routes', 'session', 'genesys']),
  fence('server/core', ['http', 'routes', 'session', 'genesys', 'stores']),
);
