/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Tests compile with their own project: the root one has no jest globals.
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }],
  },
  // Integration tests bind real ports and may start real servers; keep them bounded.
  testTimeout: 20000,
  maxWorkers: 2,
};
