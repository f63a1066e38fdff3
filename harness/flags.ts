/**
 * The `--name value` / `--name=value` flags of a harness command, and the `switches` that take no
 * value (`--embedded`, read as `true`). `--help` prints `usage` and exits; each `take` removes its
 * flag, so `done()` can refuse any left unknown.
 */
export function readFlags(
  argv: readonly string[],
  usage: string,
  switches: readonly string[] = [],
): { take(name: string): string | undefined; done(): void } {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    if (eq < 0 && switches.includes(arg.slice(2))) values.set(arg.slice(2), 'true');
    else if (eq > 0) values.set(arg.slice(2, eq), arg.slice(eq + 1));
    else {
      const value = argv[i + 1];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      values.set(arg.slice(2), value);
      i += 1;
    }
  }
  return {
    take(name) {
      const value = values.get(name);
      values.delete(name);
      return value;
    },
    done() {
      if (values.size > 0) throw new Error(`unknown option --${[...values.keys()][0]}`);
    },
  };
}
