#!/usr/bin/env bash
# What each commit bought: for every commit given, `npm run bench`'s A/B mode with that commit
# as "current" and its parent as the baseline, in one bench run each.
#
#   scripts/bench-steps.sh [bench options --] COMMIT...
#   scripts/bench-steps.sh --only get --stores sqlite --levels info --rounds 5 -- 907823d 6311858
#
# Each commit is checked out into a temporary git worktree (node_modules linked from this
# checkout) and built with its own sources; the bench itself is this checkout's (dist/bench),
# so commits from before the bench existed can be measured too. Prints each run's A/B lines
# and keeps its full output in bench/results/steps/<commit>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

bench_args=()
if [[ " $* " == *" -- "* ]]; then
  while [[ $# -gt 0 && $1 != "--" ]]; do
    bench_args+=("$1")
    shift
  done
  shift
fi
[[ $# -gt 0 ]] || { echo "usage: $0 [bench options --] COMMIT..." >&2; exit 2; }
[[ ${#bench_args[@]} -gt 0 ]] || bench_args=(--only get --stores sqlite --levels info)

npx tsc -p tsconfig.build.json
out="$repo/bench/results/steps"
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/tokens-bff-steps-XXXXXX")
cleanup() {
  git -C "$repo" worktree remove --force "$work/tree" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

for commit in "$@"; do
  sha=$(git rev-parse --short "$commit^{commit}")
  parent=$(git rev-parse --short "$commit^")
  git worktree add --detach "$work/tree" "$sha" >/dev/null
  ln -s "$repo/node_modules" "$work/tree/node_modules"
  # The commit's own build; a type error in a file the gateway does not run is not fatal, as
  # long as the entry point was emitted.
  (cd "$work/tree" && npx tsc -p tsconfig.build.json >/dev/null 2>&1) || true
  [[ -f "$work/tree/dist/server/main.js" ]] || { echo "$sha: no dist/server/main.js" >&2; exit 1; }
  rm -rf "$work/tree/dist/bench" "$work/tree/bench/wrk"
  cp -r "$repo/dist/bench" "$work/tree/dist/bench"
  mkdir -p "$work/tree/bench"
  cp -r "$repo/bench/wrk" "$work/tree/bench/wrk"
  echo "== $sha ($(git log -1 --format=%s "$sha" | cut -c1-90)) vs $parent"
  node "$work/tree/dist/bench/run.js" "${bench_args[@]}" --baseline "$parent" >"$out/$sha.txt" 2>&1 || {
    echo "$sha: bench failed, see $out/$sha.txt" >&2
    exit 1
  }
  grep -E '÷ baseline|A/B' "$out/$sha.txt" || tail -5 "$out/$sha.txt"
  git worktree remove --force "$work/tree" >/dev/null
done
