#!/usr/bin/env bash
# Runs deploy/kubernetes/ (Deployment, Service, PodDisruptionBudget) with `podman kube play`, by
# README's commands (Kubernetes), with a ConfigMap and Secret of its own that point it at the
# Genesys emulator and a Redis, each a container on the same podman network:
#   1. the manifests pass the Kubernetes API schemas (kubernetes-models from npm, offline), and a
#      broken copy does not;
#   2. the pod runs as podman read the manifest: node as uid 10001 with no capabilities, no new
#      privileges, a read-only root, the memory limit, the liveness probe as its healthcheck, the
#      Secret's files (SESSION_SECRET_FILE and the others) readable, not writable;
#   3. the probes' paths answer 200, the listen line says 0.0.0.0:3000, and a login (the OAuth code
#      flow with the client secret from the Secret, sessions in Redis) gives a working session;
#   4. the pod stopped with its grace period: SIGTERM, `stopped`, exit 0; then `podman kube down`,
#      and no pod or container of it is left (nor the secret and volumes podman 4.3 leaves).
# Closing line: `kube: N passed, N failed`; exit status 1 on any failure.
#
# Nothing is published: the browser (curl) reaches the pod's and the emulator's addresses on the
# podman network with --connect-to, as a Service and an Ingress would route it, while the URLs
# stay PUBLIC_BASE_URL (http://127.0.0.1:PORT) and https://genesys:8443. The image is built as
# `tokens-bff` on the local base images of scripts/container-lib.sh (cached). Needs root and the
# Debian packages podman, runc, catatonit (the pod's pause image), the CNI dnsname plugin, curl and
# openssl; with CI=true it apt-get installs the missing ones itself.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/container-lib.sh
. scripts/container-lib.sh

begin_run "${KUBE_TEST_OUT:-.ci-out/kube}" kube
RUN_ID=$$
IMAGE=tokens-bff
NET=tokens-bff-kube-$RUN_ID
REDIS=tokens-bff-kt-redis-$RUN_ID
GENESYS=tokens-bff-kt-genesys-$RUN_ID
KUBE=$WORK/tokens-bff.kube.yaml
# podman names a Deployment's pods NAME-pod-N and their containers POD-CONTAINER.
REPLICAS=$(sed -nE 's/^  replicas: *([0-9]+)$/\1/p' deploy/kubernetes/deployment.yaml)
PODS=()
for ((i = 0; i < REPLICAS; i++)); do PODS+=("tokens-bff-pod-$i"); done
POD=${PODS[0]}
CTR=$POD-tokens-bff
# The schema validator, kept between runs (an npm install of a pinned version otherwise).
VALIDATOR=${TMPDIR:-/tmp}/tokens-bff-kube-validate
VALIDATOR_PACKAGES=(kubernetes-models@4.5.1 js-yaml@4.1.0)

cleanup() {
  [ -s "$KUBE" ] && pm kube down "$KUBE" >>"$OUT/podman.log" 2>&1 || true
  pm pod rm -f "${PODS[@]}" >/dev/null 2>&1 || true
  pm secret rm tokens-bff >/dev/null 2>&1 || true
  pm volume rm -f tokens-bff >/dev/null 2>&1 || true
  pm rm -f -v --time 0 "$REDIS" "$GENESYS" >/dev/null 2>&1 || true
  pm network rm -f "$NET" >/dev/null 2>&1 || true
  pm rmi "$IMAGE" >/dev/null 2>&1 || true
  prune_stale_cache
}

need_tools kube-test catatonit golang-github-containernetworking-plugin-dnsname openssl
# A run killed before its trap: its pod, secret and containers (the network has the run's id).
pm pod rm -f "${PODS[@]}" >/dev/null 2>&1 || true
pm secret rm tokens-bff >/dev/null 2>&1 || true
pm volume rm -f tokens-bff >/dev/null 2>&1 || true
for c in $(pm ps -a -q --filter "label=$LABEL=kube" 2>/dev/null); do pm rm -f -v --time 0 "$c" >/dev/null 2>&1 || true; done
for n in $(pm network ls -q --filter "label=$LABEL=kube" 2>/dev/null); do pm network rm -f "$n" >/dev/null 2>&1 || true; done

# --- 1. schemas -------------------------------------------------------------------------------
if [ ! -d "$VALIDATOR/node_modules/kubernetes-models" ]; then
  npm install --no-audit --no-fund --no-save --prefix "$VALIDATOR" "${VALIDATOR_PACKAGES[@]}" \
    >"$OUT/npm-validator.log" 2>&1 || tail -5 "$OUT/npm-validator.log"
fi
if node scripts/kube-validate.mjs "$VALIDATOR/node_modules" deploy/kubernetes/*.yaml >"$WORK/validate.out" 2>&1; then
  pass "deploy/kubernetes/*.yaml pass the Kubernetes API schemas ($(grep -c '^ok' "$WORK/validate.out") documents)"
else
  cat "$WORK/validate.out"
  fail "deploy/kubernetes/*.yaml pass the Kubernetes API schemas"
fi
sed 's/runAsNonRoot: true/runAsNonRoot: "yes"/' deploy/kubernetes/deployment.yaml >"$WORK/broken.yaml"
check "... and a copy with runAsNonRoot: \"yes\" does not" \
  eval '! node scripts/kube-validate.mjs "$VALIDATOR/node_modules" "$WORK/broken.yaml" >/dev/null 2>&1'

# --- images, the emulator and Redis -----------------------------------------------------------
base_images
build_image "$IMAGE"
pm build -t tokens-bff-redis --build-arg "BASE_IMAGE=$BASE_REF" deploy/redis >"$OUT/build-redis.log" 2>&1 ||
  tail -20 "$OUT/build-redis.log"
[ -s dist/scripts/emulator-server.js ] || npm run build >"$OUT/npm-build.log" 2>&1

PORT=$(free_port)
PUBLIC_BASE_URL=http://127.0.0.1:$PORT
make_tls "$WORK/tls"
mkdir -p "$WORK/secret"
openssl rand -base64 48 >"$WORK/secret/session_secret"
openssl rand -hex 24 >"$WORK/secret/oauth_client_secret"
printf 'redis://redis:6379\n' >"$WORK/secret/redis_url"
cp "$WORK/tls/ca.pem" "$WORK/secret/genesys-ca.pem"
chmod 0444 "$WORK"/secret/*

pm network create --label "$LABEL=kube" "$NET" >/dev/null
pm run -d --name "$REDIS" --label "$LABEL=kube" --network "$NET" --network-alias redis \
  --read-only --cap-drop ALL tokens-bff-redis >/dev/null
pm run -d --name "$GENESYS" --label "$LABEL=kube" --network "$NET" --network-alias genesys \
  --read-only --cap-drop ALL -v "$PWD/dist:/app/dist:ro" -v "$WORK/tls:/tls:ro" \
  -v "$WORK/secret/oauth_client_secret:/run/client_secret:ro" "$BASE_REF" \
  node /app/dist/scripts/emulator-server.js --port 8443 --tls-cert /tls/genesys.pem \
  --tls-key /tls/genesys-key.pem --client-id kube-test --client-secret-file /run/client_secret \
  --redirect-uri "$PUBLIC_BASE_URL/auth/callback" >/dev/null

# README's ConfigMap, with this test's values: the emulator (its CA in the Secret) and the Redis.
cat >"$WORK/configmap.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: tokens-bff
data:
  PUBLIC_BASE_URL: $PUBLIC_BASE_URL
  OAUTH_CLIENT_ID: kube-test
  GENESYS_API_BASE_URL: https://genesys:8443
  GENESYS_LOGIN_BASE_URL: https://genesys:8443
  NODE_EXTRA_CA_CERTS: /run/secrets/tokens-bff/genesys-ca.pem
  TRUST_PROXY: '1'
  SESSION_STORE: redis
  REDIS_URL_FILE: /run/secrets/tokens-bff/redis_url
  OAUTH_CLIENT_SECRET_FILE: /run/secrets/tokens-bff/oauth_client_secret
EOF
# The Secret as `kubectl create secret generic tokens-bff --from-file=… --dry-run=client -o yaml`
# writes it, then the manifests: README's tokens-bff.kube.yaml.
{
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: tokens-bff\ntype: Opaque\ndata:\n'
  for f in "$WORK"/secret/*; do printf '  %s: %s\n' "$(basename "$f")" "$(base64 -w0 "$f")"; done
  for f in deployment service pdb; do
    printf -- '---\n'
    cat "deploy/kubernetes/$f.yaml"
  done
} >"$KUBE"

# --- 2. podman kube play ------------------------------------------------------------------------
t0=$(now)
echo "::: podman kube play --network $NET --configmap configmap.yaml tokens-bff.kube.yaml -> $OUT/podman.log"
# --start=false, then the pod is started below: podman 4.3 writes each Secret value into its
# volume still base64-encoded (and ignores stringData), so the files are decoded in between.
if pm kube play --start=false --network "$NET" --configmap "$WORK/configmap.yaml" "$KUBE" >>"$OUT/podman.log" 2>&1; then
  pass "podman kube play ($(since "$t0") s)"
else
  tail -20 "$OUT/podman.log"
  fail "podman kube play"
  finished=true
  exit 1
fi
secret_dir=$(pm inspect "$CTR" --format '{{range .Mounts}}{{if eq .Destination "/run/secrets/tokens-bff"}}{{.Source}}{{end}}{{end}}')
decoded=0
for f in "$WORK"/secret/*; do
  mounted=$secret_dir/$(basename "$f")
  if ! cmp -s "$f" "$mounted" && [ "$(cat "$mounted")" = "$(base64 -w0 "$f")" ]; then
    base64 -d "$mounted" >"$WORK/decoded" && cat "$WORK/decoded" >"$mounted"
    decoded=$((decoded + 1))
  fi
done
[ "$decoded" -eq 0 ] || echo "     podman wrote $decoded Secret values base64-encoded: decoded in $secret_dir"
secret_values_as_written() {
  local f
  for f in "$WORK"/secret/*; do cmp -s "$f" "$secret_dir/$(basename "$f")" || return 1; done
}
check "the Secret's values in the pod's volume as written" secret_values_as_written
ip_of() { pm inspect "$1" --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'; }
POD_IPS=()
for pod in "${PODS[@]}"; do
  pm pod start "$pod" >>"$OUT/podman.log" 2>&1 || true
  POD_IPS+=("$(ip_of "$(pm pod inspect "$pod" --format '{{.InfraContainerID}}')")")
done
GENESYS_IP=$(ip_of "$GENESYS")
POD_IP=${POD_IPS[0]}
POD_URL=http://$POD_IP:3000
for i in "${!PODS[@]}"; do
  if wait_for "http://${POD_IPS[$i]}:3000/healthz" 20; then
    pass "pod ${PODS[$i]} (replica $((i + 1)) of $REPLICAS) at ${POD_IPS[$i]} answers /healthz after $(since "$t0") s"
  else
    pm logs "${PODS[$i]}-tokens-bff" 2>&1 | tail -20 || true
    fail "pod ${PODS[$i]} answers /healthz"
  fi
done

# status_line: /proc/1/status of the app container, the lines named.
proc1() { pm exec "$CTR" grep -E "^($1):" /proc/1/status; }
runs_as_10001_without_capabilities() {
  proc1 'Uid|Gid|CapEff|CapPrm|NoNewPrivs' | tee "$WORK/proc1"
  grep -qE '^Uid:\s+10001\s+10001\s+10001\s+10001$' "$WORK/proc1" &&
    grep -qE '^CapEff:\s+0+$' "$WORK/proc1" && grep -qE '^CapPrm:\s+0+$' "$WORK/proc1" &&
    grep -qE '^NoNewPrivs:\s+1$' "$WORK/proc1"
}
inspect_is() { test "$(pm inspect "$CTR" --format "$1")" = "$2"; }
secret_files_readable_not_writable() {
  pm exec "$CTR" sh -c 'stat -L -c "%a %u:%g %n" /run/secrets/tokens-bff/* && cat /run/secrets/tokens-bff/* >/dev/null' \
    >"$WORK/secret-files" || return 1
  sed 's/^/     /' "$WORK/secret-files"
  # In Kubernetes defaultMode 0440 and fsGroup 10001 apply; podman 4.3 writes 0644 root:root.
  grep -qvE '^440 [0-9]+:10001 ' "$WORK/secret-files" && echo "     (podman ignores the volume's defaultMode and fsGroup)"
  [ "$(wc -l <"$WORK/secret-files")" -eq 4 ] && ! pm exec "$CTR" sh -c ': >>/run/secrets/tokens-bff/session_secret' 2>/dev/null
}
echo "     $(pm inspect "$CTR" --format '{{json .Config.Healthcheck.Test}}')"
check "securityContext: node as uid 10001, no capabilities (CapEff 0), no new privileges" runs_as_10001_without_capabilities
check "securityContext: read-only root filesystem" inspect_is '{{.HostConfig.ReadonlyRootfs}}' true
check "resources: memory limit 256Mi" inspect_is '{{.HostConfig.Memory}}' 268435456
check "livenessProbe read as the healthcheck on /healthz" \
  eval 'pm inspect "$CTR" --format "{{json .Config.Healthcheck.Test}}" | grep -qF "localhost:3000/healthz"'
check "the Secret's files, SESSION_SECRET_FILE among them: read by the app, not writable" secret_files_readable_not_writable

# --- 3. probes and a login ----------------------------------------------------------------------
check "livenessProbe path: GET /healthz -> 200" test "$(curl -sS -o /dev/null -w '%{http_code}' "$POD_URL/healthz")" = 200
check "readinessProbe path: GET /readyz -> 200 (Redis from REDIS_URL_FILE reachable)" \
  test "$(curl -sS -o /dev/null -w '%{http_code}' "$POD_URL/readyz")" = 200
check "listen log line names 0.0.0.0:3000" \
  eval 'pm logs "$CTR" 2>&1 | grep -F "\"msg\":\"listening\"" | grep -qF "\"address\":\"0.0.0.0:3000\""'
BROWSER=(--cacert "$WORK/tls/ca.pem" --connect-to "genesys:8443:$GENESYS_IP:8443"
  --connect-to "127.0.0.1:$PORT:$POD_IP:3000")
jar=$WORK/jar
got=$(browser_login "$PUBLIC_BASE_URL" "$jar" "${BROWSER[@]}" || true)
check "login (code flow, client secret from the Secret) ends home (got $got)" test "$got" = 404
check "GET /session with the session cookie -> 200" \
  test "$(curl -sS -b "$jar" -H 'X-CSRF: 1' -o /dev/null -w '%{http_code}' "${BROWSER[@]}" "$PUBLIC_BASE_URL/session")" = 200
# As the Service may route the next request: the other replica, the same session (in Redis).
last=$((REPLICAS - 1))
check "... and through the other replica (${PODS[$last]}) -> 200, the session in Redis" \
  test "$(curl -sS -b "$jar" -H 'X-CSRF: 1' -o /dev/null -w '%{http_code}' "${BROWSER[@]:0:4}" \
    --connect-to "127.0.0.1:$PORT:${POD_IPS[$last]}:3000" "$PUBLIC_BASE_URL/session")" = 200

# --- 4. SIGTERM, then podman kube down ---------------------------------------------------------
# podman 4.3's `kube down` does not wait for the pod (the app gets no SIGTERM it could act on), and
# its pods ignore terminationGracePeriodSeconds: so first `podman pod stop` with that grace, as
# Kubernetes stops a pod, then `kube down`.
grace=$(sed -nE 's/^ *terminationGracePeriodSeconds: *([0-9]+)$/\1/p' deploy/kubernetes/deployment.yaml)
data_volumes=$(for pod in "${PODS[@]}"; do
  pm inspect "$pod-tokens-bff" --format '{{range .Mounts}}{{if eq .Destination "/data"}}{{println .Name}}{{end}}{{end}}'
done)
t0=$(now)
pm pod stop --time "$grace" "${PODS[@]}" >>"$OUT/podman.log" 2>&1 || true
stop_s=$(since "$t0")
pm logs "$CTR" >"$WORK/pod.log" 2>&1 || true
echo "     last log line: $(tail -n1 "$WORK/pod.log")"
# stopped_cleanly CONTAINER: exit 0, the SIGTERM logged, and `stopped` last.
stopped_cleanly() {
  pm logs "$1" >"$WORK/stop.log" 2>&1 &&
    [ "$(pm inspect "$1" --format '{{.State.ExitCode}}')" = 0 ] &&
    grep -qF '"signal":"SIGTERM"' "$WORK/stop.log" && tail -n1 "$WORK/stop.log" | grep -qF '"msg":"stopped"'
}
all_stopped_cleanly() {
  local pod
  for pod in "${PODS[@]}"; do stopped_cleanly "$pod-tokens-bff" || return 1; done
}
check "podman pod stop --time $grace (terminationGracePeriodSeconds): each replica exits 0 after SIGTERM and stopped ($stop_s s)" \
  all_stopped_cleanly
t0=$(now)
pm kube down "$KUBE" >>"$OUT/podman.log" 2>&1 || true
echo "     podman kube down: $(since "$t0") s"
# podman 4.3's kube down leaves the Secret and its volume, and the image's anonymous /data volume.
left=()
pm secret exists tokens-bff 2>/dev/null && left+=(secret) && pm secret rm tokens-bff >/dev/null
pm volume exists tokens-bff 2>/dev/null && left+=("secret volume") && pm volume rm -f tokens-bff >/dev/null
for v in $data_volumes; do
  pm volume exists "$v" 2>/dev/null && left+=("/data volume") && pm volume rm -f "$v" >/dev/null
done
[ "${#left[@]}" -eq 0 ] || echo "     podman kube down left: ${left[*]} (removed)"
check "no pod or container of the manifest is left" \
  test -z "$(pm pod ls -q --filter 'name=^tokens-bff-pod-')$(pm ps -a -q --filter 'name=^tokens-bff-pod-')"

echo "::: timings: whole run $(since "$t_start") s"
finished=true
