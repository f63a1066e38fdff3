#!/usr/bin/env bash
# Builds the image from the Dockerfile with podman and probes it for real, on 127.0.0.1 only:
#   1. a missing environment exits non-zero with the config message and no stack trace;
#   2. a valid one, by README's `docker run` line (secret as SESSION_SECRET_FILE, SQLite on a
#      volume, read-only root, published on 127.0.0.1) serves
#      /healthz, /readyz, /metrics and a 401 problem for /session, runs `node` as uid 10001,
#      passes its HEALTHCHECK, and on SIGTERM (`podman stop`) drains and exits 0.
# Closing line: `container: N passed, N failed`; exit status 1 on any failure.
#
# No image registry is needed. The Dockerfile's two bases (node:20-bookworm to build,
# node:20-bookworm-slim to run) are stood in for by local images: Debian from this machine's own
# apt sources (mmdebstrap) plus this machine's node, and for the build image also its npm, node's
# headers and python3/make/g++ for node-gyp. They are cached under a tag that hashes their recipe
# and the node and npm versions, so only the first run on a machine makes them (about a minute).
# npm ci runs inside the build against `npm config get registry`, with `npm config get cafile`
# passed as a build secret. The test image, containers and volume are removed on exit; the base
# images and podman's layer cache stay for the next run (CONTAINER_TEST_CLEAN=1 removes those too).
#
# Needs root (rootful podman) and the Debian packages podman, runc, mmdebstrap and curl; with
# CI=true it apt-get installs the missing ones itself.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/container-lib.sh
. scripts/container-lib.sh

RUN_ID=$$
IMAGE=localhost/tokens-bff:container-test-$RUN_ID
CTR=tokens-bff-ct-$RUN_ID
CTR_DEFAULTS=tokens-bff-ct-defaults-$RUN_ID
VOLUME_NAME=tokens-bff-ct-data-$RUN_ID
begin_run "${CONTAINER_TEST_OUT:-.ci-out/container}" container

cleanup() {
  pm rm -f --time 0 "$CTR" >/dev/null 2>&1 || true
  pm rm -f --time 0 "$CTR_DEFAULTS" >/dev/null 2>&1 || true
  pm volume rm -f "$VOLUME_NAME" >/dev/null 2>&1 || true
  pm rmi -f "$IMAGE" >/dev/null 2>&1 || true
  if [ "${CONTAINER_TEST_CLEAN:-}" = 1 ]; then
    pm image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || true
    pm rmi -f "${BASE_REF:-}" "${BUILD_REF:-}" >/dev/null 2>&1 || true
  else
    prune_stale_cache
  fi
}

need_tools container-test openssl
# Whatever carries the label is a leftover of a run that was killed before its trap ran.
for c in $(pm ps -a -q --filter "label=$LABEL" 2>/dev/null); do pm rm -f --time 0 "$c" >/dev/null 2>&1 || true; done
for v in $(pm volume ls -q --filter "label=$LABEL" 2>/dev/null); do pm volume rm -f "$v" >/dev/null 2>&1 || true; done
for i in $(pm images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep '^localhost/tokens-bff:container-test-' || true); do
  pm rmi -f "$i" >/dev/null 2>&1 || true
done
base_images
build_image "$IMAGE"

size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(pm image inspect --format '{{.Size}}' "$BASE_REF")
echo "::: image size: $((size / 1000000)) MB ($(((size - base_size) / 1000000)) MB on top of the base's $((base_size / 1000000)) MB)"

image_config_ok() {
  local got
  got=$(pm image inspect --format '{{.Config.User}}|{{json .Config.Cmd}}|{{.Config.StopSignal}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{json .Config.Healthcheck.Test}}' "$IMAGE")
  echo "     $got"
  [[ $got == '10001:10001|["node","dist/server/main.js"]|SIGTERM|{"3000/tcp":{}}|{"/data":{}}|["CMD","node","-e",'* ]]
}
check "image config: USER 10001, CMD node, STOPSIGNAL, EXPOSE 3000, VOLUME /data, HEALTHCHECK" image_config_ok

# --- 1. missing environment ---------------------------------------------------------------------
rc=0
pm run --pull=never --rm --network none --no-healthcheck --label "$LABEL=1" "$IMAGE" \
  >"$WORK/missing.out" 2>"$WORK/missing.err" || rc=$?
sed 's/^/     /' "$WORK/missing.err"
config_message_only() {
  [ "$(head -n1 "$WORK/missing.err")" = "Invalid configuration:" ] &&
    grep -q '^  - PUBLIC_BASE_URL: is required$' "$WORK/missing.err" &&
    ! grep -qE '^\s+at ' "$WORK/missing.err" &&
    [ ! -s "$WORK/missing.out" ]
}
check "missing environment: exits non-zero (got $rc)" test "$rc" -ne 0
check "missing environment: the config message naming the variables, no stack trace" config_message_only

# --- 2. valid environment, on 127.0.0.1 ---------------------------------------------------------
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
mkdir -p "$WORK/secrets"
# README's secret.
openssl rand -base64 48 >"$WORK/secrets/session_secret" && chmod 0444 "$WORK/secrets/session_secret"
chmod 0755 "$WORK/secrets"
pm volume create --label "$LABEL=1" "$VOLUME_NAME" >/dev/null
# Settings every run below shares: the secret as a read-only file, a dead loopback port for
# Genesys (no probe here goes upstream), a read-only root (no tmpfs either, as with Docker's
# --read-only) and no capabilities.
common=(
  --pull=never --label "$LABEL=1" --read-only --read-only-tmpfs=false --cap-drop ALL
  --security-opt no-new-privileges
  -v "$WORK/secrets/session_secret:/run/secrets/session_secret:ro"
  -e SESSION_SECRET_FILE=/run/secrets/session_secret -e OAUTH_CLIENT_ID=container-test
  -e GENESYS_API_BASE_URL=http://127.0.0.1:1 -e GENESYS_LOGIN_BASE_URL=http://127.0.0.1:1
)

# README's `docker run` line with podman: the image's own HOST and PORT, published on 127.0.0.1
# only, so no traffic leaves loopback.
t2=$(now)
up=false
pm run -d --name "$CTR" "${common[@]}" -p "127.0.0.1:$PORT:3000" \
  -e PUBLIC_BASE_URL="$BASE" -e TRUST_PROXY=1 -v "$VOLUME_NAME:/data" --stop-timeout 15 \
  "$IMAGE" >/dev/null 2>>"$OUT/podman.log" || tail -3 "$OUT/podman.log"
for _ in $(seq 1 150); do
  if curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null; then
    up=true
    break
  fi
  [ "$(pm inspect --format '{{.State.Running}}' "$CTR" 2>/dev/null)" = true ] || break
  sleep 0.2
done
if $up; then
  pass "valid environment: serving on $BASE after $(since "$t2") s"
else
  pm logs "$CTR" 2>&1 | tail -20 || true
  fail "valid environment: serving on $BASE"
  finished=true
  exit 1
fi

# status METHOD PATH [curl args...]: the status code; headers and body land in $WORK.
status() {
  local method=$1 path=$2
  shift 2
  curl -sS -X "$method" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" "$BASE$path"
}
session_is_401_problem() {
  [ "$(status GET /session -H 'X-CSRF: 1')" = 401 ] &&
    grep -qi '^content-type: application/problem+json' "$WORK/headers"
}
metrics_has_request_histogram() {
  [ "$(status GET /metrics)" = 200 ] && grep -q '^http_request_duration_seconds_count{' "$WORK/body"
}
healthcheck_passes() { pm healthcheck run "$1" >/dev/null 2>>"$OUT/podman.log"; }
pid1_is_node_as_10001() {
  [ "$(pm exec "$CTR" cat /proc/1/cmdline | tr '\0' ' ')" = "node dist/server/main.js " ] &&
    pm exec "$CTR" grep -qE '^Uid:\s+10001\s+10001\s+10001\s+10001$' /proc/1/status
}
secret_not_in_logs() {
  ! pm logs "$CTR" 2>&1 | grep -qF "$(tr -d '\n' <"$WORK/secrets/session_secret")"
}
check "GET /healthz -> 200" test "$(status GET /healthz)" = 200
check "GET /readyz -> 200 (SQLite store on the volume reachable)" test "$(status GET /readyz)" = 200
check "GET /session with X-CSRF: 1 and no session -> 401 problem+json" session_is_401_problem
check "GET /metrics -> 200 with http_request_duration_seconds" metrics_has_request_histogram
check "HEALTHCHECK passes (podman healthcheck run)" healthcheck_passes "$CTR"
check "podman exec id -u -> 10001" test "$(pm exec "$CTR" id -u)" = 10001
check "PID 1 is node dist/server/main.js, running as uid 10001" pid1_is_node_as_10001
check "session database on the volume, owned by 10001" \
  test "$(pm exec "$CTR" stat -c %u /data/sessions.sqlite)" = 10001
check "secret read from SESSION_SECRET_FILE, never logged" secret_not_in_logs

t3=$(now)
pm stop "$CTR" >/dev/null 2>>"$OUT/podman.log" || true
stop_s=$(since "$t3")
code=$(pm inspect --format '{{.State.ExitCode}}' "$CTR")
last=$(pm logs "$CTR" 2>&1 | tail -n1)
echo "     last log line: $last"
check "podman stop (SIGTERM): exit code 0 (got $code) in $stop_s s, within the 10 s drain" \
  awk -v code="$code" -v s="$stop_s" 'BEGIN { exit !(code == 0 && s < 10) }'
check "last log line says stopped" grep -qF '"msg":"stopped"' <<<"$last"

# --- 3. the image's own defaults ----------------------------------------------------------------
# PORT 3000 on HOST 0.0.0.0 and SQLite on the anonymous /data volume, in a network namespace of
# its own with nothing but loopback; the HEALTHCHECK, run inside, is the probe.
pm run -d --rm --name "$CTR_DEFAULTS" "${common[@]}" --network none \
  -e PUBLIC_BASE_URL=http://127.0.0.1:3000 "$IMAGE" >/dev/null 2>>"$OUT/podman.log" || true
healthy=false
for _ in $(seq 1 50); do
  if healthcheck_passes "$CTR_DEFAULTS"; then
    healthy=true
    break
  fi
  sleep 0.2
done
check "image defaults (0.0.0.0:3000, SQLite on the anonymous /data volume): healthy" $healthy
listening_line=$(pm logs "$CTR_DEFAULTS" 2>&1 | grep -F '"msg":"listening"' || true)
echo "     $listening_line"
check "listen log line names the bound address 0.0.0.0:3000" grep -qF '"address":"0.0.0.0:3000"' <<<"$listening_line"
pm stop --time 15 "$CTR_DEFAULTS" >/dev/null 2>>"$OUT/podman.log" || true

echo "::: timings: build ${build_s} s, probes $(since "$t2") s, whole run $(since "$t_start") s"
finished=true
