#!/usr/bin/env bash
# Brings up deploy/compose.yaml and deploy/compose.redis.yaml with podman-compose, by README's
# commands (Container), against the Genesys emulator (the overlays deploy/compose*.emulator.yaml),
# and uses them as a browser would, on 127.0.0.1 only:
#   1. compose.yaml: one replica on SQLite: healthy, the listen line says 0.0.0.0:3000, a login
#      (the OAuth code flow through the emulator's login page), GET /session 200, and the same
#      session after the replica restarts (the volume);
#   2. compose.redis.yaml: two replicas on Redis behind haproxy: a login through haproxy, both
#      replicas serve the session, one replica stopped (SIGTERM, exit 0), the session still works
#      through the other;
#   3. `down -v` after each, then no container, volume or network of the project is left.
# Closing line: `compose: N passed, N failed`; exit status 1 on any failure.
#
# The gateway image is built as `tokens-bff` by README's podman command, on the local base images
# of scripts/container-lib.sh (shared with container-test.sh; cached). haproxy and Redis are
# built by podman-compose from Debian's packages on the same base. The compose project is
# `deploy` (the folder's name): a stack of that name already up is taken down. Needs root and the
# Debian packages podman, runc, podman-compose, the CNI dnsname plugin (service names in DNS),
# curl and openssl; with CI=true it apt-get installs the missing ones itself.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/container-lib.sh
. scripts/container-lib.sh

begin_run "${COMPOSE_TEST_OUT:-.ci-out/compose}" compose
PROJECT=deploy
IMAGE=tokens-bff
stack=()

# compose: podman-compose with the files of the stack under test, its output in the log.
compose() { podman-compose "${stack[@]}" "$@" >>"$OUT/podman-compose.log" 2>&1; }

# The project's volumes: the named ones (labelled) and the anonymous ones of its containers
# (the image's VOLUME /data where nothing is mounted), which podman-compose 1.0's `down -v` leaves.
project_volumes() {
  local id
  pm volume ls -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null || true
  for id in $(pm ps -a -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null); do
    pm inspect "$id" --format '{{range .Mounts}}{{if eq .Type "volume"}}{{println .Name}}{{end}}{{end}}' 2>/dev/null || true
  done
}
# Everything of the project, also what a killed run left: containers, volumes, networks.
teardown() {
  local id volumes
  volumes=$(project_volumes | sort -u)
  if [ "${#stack[@]}" -gt 0 ]; then compose down -v || true; fi
  for id in $(pm ps -a -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null); do
    pm rm -f -v --time 0 "$id" >/dev/null 2>&1 || true
  done
  for id in $volumes; do pm volume rm -f "$id" >/dev/null 2>&1 || true; done
  # podman-compose 1.0 leaves the networks it made too; `docker compose down` removes them.
  for id in $(pm network ls -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null); do
    pm network rm -f "$id" >/dev/null 2>&1 || true
  done
}
# leftovers VOLUMES: what is left of the project, VOLUMES (the names it had) included.
leftovers() {
  local id
  pm ps -a -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null
  pm network ls -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null
  for id in $1; do pm volume exists "$id" && echo "$id"; done
}
cleanup() {
  teardown
  pm rmi "$IMAGE" >/dev/null 2>&1 || true
  prune_stale_cache
}

need_tools compose-test podman-compose golang-github-containernetworking-plugin-dnsname openssl
teardown
base_images
build_image "$IMAGE"
[ -s dist/scripts/emulator-server.js ] || npm run build >"$OUT/npm-build.log" 2>&1

# What README's commands read: the environment, and the secret as a file readable by uid 10001.
openssl rand -base64 48 >"$WORK/session_secret" && chmod 0444 "$WORK/session_secret"
make_tls "$WORK/tls"
PORT=$(free_port)
export PUBLIC_BASE_URL=http://127.0.0.1:$PORT TOKENS_BFF_PORT=$PORT OAUTH_CLIENT_ID=compose-test
export SESSION_SECRET_PATH=$WORK/session_secret EMULATOR_TLS_DIR=$WORK/tls
EMULATOR_PORT=$(free_port)
export EMULATOR_PORT BASE_IMAGE=$BASE_REF NODE_IMAGE=$BASE_REF
BASE=$PUBLIC_BASE_URL
# The browser reaches the emulator by the name the gateway uses, at its port on 127.0.0.1.
BROWSER=(--cacert "$WORK/tls/ca.pem" --connect-to "genesys:8443:127.0.0.1:$EMULATOR_PORT")

# up_stack NAME FILE...: README's `podman-compose -f … up -d [--build]`, then /healthz through
# the published port.
up_stack() {
  local name=$1 t0
  shift
  stack=()
  local f
  for f in "$@"; do stack+=(-f "$f"); done
  t0=$(now)
  echo "::: podman-compose ${stack[*]} up -d${UP_BUILD:+ --build} -> $OUT/podman-compose.log"
  if compose up -d ${UP_BUILD:+--build} && wait_for "$BASE/healthz" 60; then
    pass "$name: up and answering $BASE/healthz after $(since "$t0") s"
  else
    tail -30 "$OUT/podman-compose.log"
    pm ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}} {{.Status}}'
    fail "$name: up and answering $BASE/healthz"
    return 1
  fi
}
# down_stack NAME: README's `podman-compose -f … down -v` (and what podman-compose 1.0 leaves
# of it, see teardown), then nothing of the project is left.
down_stack() {
  local name=$1 t0 volumes
  t0=$(now)
  volumes=$(project_volumes | sort -u)
  teardown
  stack=()
  check "$name: down -v leaves no container, volume or network ($(since "$t0") s)" \
    test -z "$(leftovers "$volumes")"
}
listens_on_all_addresses() {
  pm logs "$1" 2>&1 | grep -F '"msg":"listening"' | grep -qF '"address":"0.0.0.0:3000"'
}
stopped_cleanly() {
  [ "$(pm inspect --format '{{.State.ExitCode}}' "$1")" = 0 ] &&
    pm logs "$1" 2>&1 | tail -n1 | grep -qF '"msg":"stopped"'
}
# served_session NAME: how many GET /session the replica's access log holds.
served_session() { pm logs "$1" 2>&1 | grep -cF '"path":"/session"' || true; }

# --- 1. compose.yaml: one replica, SQLite on a volume ----------------------------------------
if up_stack compose.yaml deploy/compose.yaml deploy/compose.emulator.yaml; then
  GW=${PROJECT}_gateway_1
  check "compose.yaml: listen log line names 0.0.0.0:3000" listens_on_all_addresses "$GW"
  jar=$WORK/jar-sqlite
  t0=$(now)
  got=$(browser_login "$BASE" "$jar" "${BROWSER[@]}" || true)
  # Home is / and there is no STATIC_DIR: 404 is the end of a successful login here.
  check "compose.yaml: login through the emulator's login page ends home (got $got, $(since "$t0") s)" test "$got" = 404
  check "compose.yaml: GET /session with the session cookie -> 200" test "$(session_status "$BASE" "$jar")" = 200
  check "compose.yaml: the session is stored in /data/sessions.sqlite (uid 10001)" \
    test "$(pm exec "$GW" stat -c %u /data/sessions.sqlite 2>/dev/null)" = 10001
  compose restart gateway || true
  wait_for "$BASE/healthz" 30 || true
  check "compose.yaml: after a restart of the replica, the same session -> 200 (the volume kept it)" \
    test "$(session_status "$BASE" "$jar")" = 200
  down_stack compose.yaml
fi

# --- 2. compose.redis.yaml: two replicas, Redis, haproxy --------------------------------------
UP_BUILD=1
if up_stack compose.redis.yaml deploy/compose.redis.yaml deploy/compose.redis.emulator.yaml; then
  GW1=${PROJECT}_gateway-1_1
  GW2=${PROJECT}_gateway-2_1
  # Both replicas in haproxy's rotation: each has answered its /readyz checks.
  for _ in $(seq 1 50); do
    [ "$(pm logs "$GW1" 2>&1 | grep -c '"path":"/readyz"')" -gt 1 ] &&
      [ "$(pm logs "$GW2" 2>&1 | grep -c '"path":"/readyz"')" -gt 1 ] && break
    sleep 0.2
  done
  check "compose.redis.yaml: both replicas listen on 0.0.0.0:3000" \
    eval 'listens_on_all_addresses "$GW1" && listens_on_all_addresses "$GW2"'
  jar=$WORK/jar-redis
  got=$(browser_login "$BASE" "$jar" "${BROWSER[@]}" || true)
  check "compose.redis.yaml: login through haproxy ends home (got $got)" test "$got" = 404
  ok=0
  for _ in 1 2 3 4 5 6; do [ "$(session_status "$BASE" "$jar")" = 200 ] && ok=$((ok + 1)); done
  check "compose.redis.yaml: GET /session through haproxy -> 200, 6 of 6 (got $ok)" test "$ok" = 6
  served1=$(served_session "$GW1")
  served2=$(served_session "$GW2")
  check "compose.redis.yaml: both replicas served the session (gateway-1 $served1, gateway-2 $served2)" \
    test "$served1" -gt 0 -a "$served2" -gt 0
  t0=$(now)
  compose stop gateway-1 || true
  stop_s=$(since "$t0")
  check "compose.redis.yaml: gateway-1 stopped by SIGTERM exits 0 after 'stopped' ($stop_s s)" stopped_cleanly "$GW1"
  ok=0
  slowest=0
  for _ in 1 2 3 4 5 6; do
    t0=$(now)
    [ "$(session_status "$BASE" "$jar")" = 200 ] && ok=$((ok + 1))
    slowest=$(awk -v a="$slowest" -v b="$(since "$t0")" 'BEGIN { print (b > a ? b : a) }')
  done
  check "compose.redis.yaml: with gateway-1 down, GET /session -> 200, 6 of 6 (got $ok, slowest $slowest s)" test "$ok" = 6
  check "compose.redis.yaml: ... served by gateway-2" test "$(served_session "$GW2")" -ge $((served2 + 6))
  down_stack compose.redis.yaml
fi

echo "::: timings: whole run $(since "$t_start") s"
finished=true
