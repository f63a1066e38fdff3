import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The A/B baseline: a commit built in a temporary `git worktree add --detach`, beside the
 * working tree, so its gateway (`node <worktree>/dist/server/main.js`) runs in the same bench
 * run as the current one. node_modules is a symlink to the current one when package-lock.json
 * is the same, else `npm ci` runs in the worktree. `remove()` takes the worktree away again.
 */
export interface Baseline {
  readonly ref: string;
  readonly commit: string;
  readonly subject: string;
  readonly dir: string;
  readonly distRoot: string;
  remove(): void;
}

function git(repo: string, args: string[]): string {
  return execFileSync('git', ['-C', repo, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** The lock's non-dev packages (path, version, integrity), one canonical string. */
function productionPackages(lockText: string): string {
  try {
    const lock = JSON.parse(lockText) as {
      packages?: Record<string, { version?: string; integrity?: string; dev?: boolean }>;
    };
    const root = lock.packages?.[''] as { dependencies?: Record<string, string> } | undefined;
    const entries = Object.entries(lock.packages ?? {})
      .filter(([key, p]) => key !== '' && p.dev !== true)
      .map(([key, p]) => `${key}@${p.version ?? ''}#${p.integrity ?? ''}`)
      .sort();
    return JSON.stringify({ root: root?.dependencies ?? {}, entries });
  } catch {
    return `unreadable:${lockText.length}`;
  }
}

/** The default baseline: HEAD~1 when the checkout has history, else none. */
export function defaultBaselineRef(repo: string): string | undefined {
  try {
    git(repo, ['rev-parse', '--verify', '--quiet', 'HEAD~1^{commit}']);
    return 'HEAD~1';
  } catch {
    return undefined;
  }
}

/** The commit and subject of HEAD, with `+changes` when the working tree differs from it. */
export function describeHead(repo: string): string {
  try {
    const commit = git(repo, ['rev-parse', '--short', 'HEAD']);
    const dirty = git(repo, ['status', '--porcelain', '--untracked-files=no']) !== '';
    return `${commit}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'not a git checkout';
  }
}

export function prepareBaseline(repo: string, ref: string, say: (line: string) => void): Baseline {
  let commit: string;
  try {
    commit = git(repo, ['rev-parse', '--verify', `${ref}^{commit}`]);
  } catch {
    throw new Error(`--baseline ${ref}: not a commit of ${repo}`);
  }
  const subject = git(repo, ['log', '-1', '--format=%s', commit]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-baseline-'));
  let added = false;
  const remove = (): void => {
    let removed = !added;
    if (added) {
      try {
        git(repo, ['worktree', 'remove', '--force', dir]);
        removed = true;
      } catch {
        // the folder goes below, and prune forgets it
      }
      added = false;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    if (!removed) {
      try {
        git(repo, ['worktree', 'prune']);
      } catch {
        // nothing to prune
      }
    }
  };
  try {
    git(repo, ['worktree', 'add', '--detach', dir, commit]);
    added = true;
    let theirs = '';
    try {
      theirs = git(repo, ['show', `${commit}:package-lock.json`]);
    } catch {
      theirs = '';
    }
    const ours = fs.readFileSync(path.join(repo, 'package-lock.json'), 'utf8').trim();
    const sameLock = theirs === ours;
    // The gateway runs on the production dependencies only: when those are the same package
    // for package, a lock that differs in dev tools (a test or bench helper) needs no npm ci,
    // which takes minutes on a busy machine. The build then uses the current dev tools.
    const sameRuntime =
      !sameLock && theirs !== '' && productionPackages(theirs) === productionPackages(ours);
    const t0 = Date.now();
    if (sameLock || sameRuntime) {
      if (sameRuntime) {
        say(
          `baseline ${ref}: package-lock.json differs in dev dependencies only; node_modules linked`,
        );
      }
      fs.symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    } else {
      say(`baseline ${ref}: package-lock.json differs, npm ci in the worktree…`);
      execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore' });
    }
    say(`baseline ${ref} (${commit.slice(0, 7)} ${subject}): building in ${dir}…`);
    const distRoot = path.join(dir, 'dist');
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      // tsc emits despite type errors; a baseline with some is still worth measuring.
      if (!fs.existsSync(path.join(distRoot, 'server/main.js'))) throw err;
      const errors = ((err as { stdout?: Buffer }).stdout?.toString() ?? '')
        .split('\n')
        .filter((line) => line.includes('error TS'));
      say(
        `baseline ${ref}: tsc reported ${errors.length} type errors but built dist/ ` +
          `(first: ${errors[0]?.trim() ?? '?'})`,
      );
    }
    if (!fs.existsSync(path.join(distRoot, 'server/main.js'))) {
      throw new Error(`baseline ${ref}: the build made no dist/server/main.js`);
    }
    say(
      `baseline ${ref}: ${sameLock || sameRuntime ? 'node_modules linked' : 'npm ci'} and built in ` +
        `${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    return { ref, commit, subject, dir, distRoot, remove };
  } catch (err) {
    remove();
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(
      `baseline ${ref}: ${stderr ? stderr.slice(-1500) : err instanceof Error ? err.message : String(err)}`,
    );
  }
}
