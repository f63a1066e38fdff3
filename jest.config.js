/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/emulator'],
  testMatch: ['**/*.test.ts'],
  // Tests compile with the test project's options (emulator/test/tsconfig.json has the same):
  // the root project has no jest globals.
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/test/tsconfig.json' }],
  },
  setupFiles: ['<rootDir>/test/support/jest-setup.ts'],
  // Integration tests bind real ports and may start real servers; keep them bounded.
  testTimeout: 20000,
  maxWorkers: 2,
};
