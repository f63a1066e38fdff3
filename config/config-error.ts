/** One bad setting: the variable as the operator wrote it (e.g. `SESSION_SECRET_FILE`) and why. */
export interface ConfigProblem {
  readonly variable: string;
  /** Short and clear; never contains a secret's value. */
  readonly message: string;
}

/**
 * Thrown by loadConfig when any setting is missing or invalid. It carries every problem at
 * once, so an operator fixes the environment in one round instead of one restart per variable.
 * The message is meant to be printed as is at start-up, without a stack trace.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];

  /** Builds `Invalid configuration:` followed by one `  - VAR: reason` line per problem. */
  constructor(problems: readonly ConfigProblem[]) {
    super(
      ['Invalid configuration:', ...problems.map((p) => `  - ${p.variable}: ${p.message}`)].join(
        '\n',
      ),
    );
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}
