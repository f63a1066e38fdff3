import fs from 'node:fs';
import path from 'node:path';

const DOC = path.resolve(__dirname, '../../docs/redis.md');

/**
 * The ACL rules docs/redis.md gives operators for the gateway's user (the words after
 * `ACL SETUSER tokens-bff`), with `password` in place of PASSWORD: tests make the user from the
 * document itself, so the two cannot drift apart.
 */
export function documentedAclRules(password: string, extra: readonly string[] = []): string[] {
  const line = fs
    .readFileSync(DOC, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ACL SETUSER tokens-bff '));
  if (!line) throw new Error(`${DOC} has no ACL SETUSER tokens-bff line`);
  const rules = line.split(/\s+/).slice(3);
  return [...rules.map((r) => (r === '>PASSWORD' ? `>${password}` : r)), ...extra];
}
