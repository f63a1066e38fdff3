# Sourced by scripts/container-test.sh, compose-test.sh and kube-test.sh: the counted checks, the
# tools (installed from Debian with CI=true), podman's settings for this kind of host, the lock the
# scripts share, the local stand-ins for the Dockerfile's two base images, and the README's build.
# A script calls begin_run first, and defines cleanup (what it made in podman) for its EXIT trap.

LABEL=tokens-bff-container-test
passed=0
failed=0
finished=false
pass() {
  passed=$((passed + 1))
  echo "ok   - $*"
}
fail() {
  failed=$((failed + 1))
  echo "FAIL - $*"
}
# check NAME COMMAND...: one probe, counted.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# finish RC NAME: the closing line `NAME: N passed, N failed`, and the exit status.
finish() {
  local rc=$1 name=$2
  if ! $finished; then fail "aborted (exit $rc); logs in $OUT"; fi
  echo "$name: $passed passed, $failed failed"
  if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then exit 0; else exit 1; fi
}

pm() { podman "$@"; }

# begin_run OUT NAME: logs go to OUT; WORK is a new temp folder; t_start is now. On exit, the
# script's cleanup (once podman is set up), WORK removed, the closing line `NAME: …`.
begin_run() {
  OUT=$1
  RUN_NAME=$2
  rm -rf "$OUT" && mkdir -p "$OUT"
  t_start=$(now)
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokens-bff-$2.XXXXXX")
  trap 'end_run $?' EXIT
  trap 'exit 130' INT TERM
}
end_run() {
  if command -v podman >/dev/null 2>&1 && [ -n "${CONTAINERS_CONF:-}" ]; then cleanup; fi
  rm -rf "$WORK"
  finish "$1" "$RUN_NAME"
}

# need_tools SCRIPT PACKAGE...: root, and podman, runc, mmdebstrap, curl plus PACKAGE... (Debian
# package names; a command of the same name, or for a CNI plugin its file, says it is there).
need_tools() {
  local script=$1
  shift
  if [ "$(id -u)" -ne 0 ]; then
    echo "$script: needs root (rootful podman)" >&2
    exit 1
  fi
  local missing=() pkg
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  [ -x /usr/sbin/runc ] || command -v runc >/dev/null 2>&1 || missing+=(runc)
  command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  for pkg in "$@"; do
    case $pkg in
      golang-github-containernetworking-plugin-dnsname) [ -x /usr/lib/cni/dnsname ] || missing+=("$pkg") ;;
      *) command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg") ;;
    esac
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "${CI:-}" != true ]; then
      echo "$script: missing ${missing[*]}: apt-get install --no-install-recommends ${missing[*]}" >&2
      exit 1
    fi
    echo "::: apt-get install ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") \
      >"$OUT/apt.log" 2>&1 || {
      tail -20 "$OUT/apt.log"
      exit 1
    }
  fi
  # README, Container: podman's default nofile ulimit is above this machine's hard limit, which
  # runc then refuses; and runc, not crun, is the runtime here. podman-compose's podman reads it too.
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' >"$WORK/containers.conf"
  export CONTAINERS_CONF=$WORK/containers.conf
  # One run at a time on a machine (they share the base images and the build cache).
  exec 9>"${TMPDIR:-/tmp}/tokens-bff-container-test.lock"
  flock 9
}

# base_images: BASE_REF and BUILD_REF, made on the first run on a machine.
base_images() {
  NODE_BIN=$(node -p process.execPath)
  NODE_PREFIX=$(dirname "$(dirname "$NODE_BIN")")
  NPM_DIR=$(npm root -g)/npm
  # shellcheck disable=SC1091
  SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  sources=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$f" ] && sources+=("$f")
  done

  # make_rootfs KIND DIR: Debian minbase plus this machine's node at /usr/local (where the official
  # images have it); KIND=build adds npm, node's headers and node-gyp's toolchain.
  make_rootfs() {
    local kind=$1 root=$2
    local include=()
    # shellcheck disable=SC2054 # one option whose value is a comma list
    [ "$kind" = build ] && include=(--include=python3,make,g++)
    # Merged /usr set up as debootstrap does it, not through the usrmerge package (and its perl);
    # no man pages, docs or locales, as in Debian's slim images.
    mmdebstrap --mode=root --variant=minbase --format=directory \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      "${include[@]}" "$SUITE" "$root" "${sources[@]}"
    install -D -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
    if [ "$kind" = build ]; then
      mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include"
      cp -a "$NPM_DIR" "$root/usr/local/lib/node_modules/npm"
      cp -a "$NODE_PREFIX/include/node" "$root/usr/local/include/node"
      ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
      ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
      # better-sqlite3's prebuild-install would download its binary from outside the npm registry:
      # have it fall through to node-gyp, which builds against the headers above (npm_config_nodedir).
      echo 'buildFromSource=true' >"$root/etc/prebuild-installrc"
    fi
  }

  IMPORT_ENV=(
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["node"]'
    --change "LABEL $LABEL=base"
  )
  BUILD_ENV=(
    --change 'ENV npm_config_nodedir=/usr/local' --change 'ENV npm_config_update_notifier=false'
    --change 'ENV JOBS=max'
  )
  KEY=$({
    declare -f make_rootfs
    declare -p IMPORT_ENV BUILD_ENV
    echo "$SUITE"
    "$NODE_BIN" --version
    npm --version
    cat "${sources[@]}"
  } | sha256sum | cut -c1-12)
  BASE_REF=localhost/tokens-bff-base:$KEY
  BUILD_REF=localhost/tokens-bff-build:$KEY

  t0=$(now)
  if pm image exists "$BASE_REF" && pm image exists "$BUILD_REF"; then
    echo "::: base images $BASE_REF, $BUILD_REF (cached)"
  else
    echo "::: making base images (node $("$NODE_BIN" --version), Debian $SUITE) -> $OUT/base-*.log"
    make_rootfs base "$WORK/base" >"$OUT/base-run.log" 2>&1 &
    base_pid=$!
    make_rootfs build "$WORK/build" >"$OUT/base-build.log" 2>&1 &
    build_pid=$!
    base_ok=true
    wait "$base_pid" || base_ok=false
    wait "$build_pid" || base_ok=false
    if ! $base_ok; then
      tail -20 "$OUT"/base-*.log
      fail "base images (mmdebstrap)"
      finished=true
      exit 1
    fi
    tar -C "$WORK/base" --numeric-owner -cf - . | pm import -q "${IMPORT_ENV[@]}" - "$BASE_REF" >/dev/null
    tar -C "$WORK/build" --numeric-owner -cf - . | pm import -q "${IMPORT_ENV[@]}" "${BUILD_ENV[@]}" - "$BUILD_REF" >/dev/null
    rm -rf "$WORK/base" "$WORK/build"
    # Images of an older recipe or node version.
    for ref in $(pm images --format '{{.Repository}}:{{.Tag}}' | grep -E '^localhost/tokens-bff-(base|build):' | grep -v ":$KEY\$" || true); do
      pm rmi -f "$ref" >/dev/null 2>&1 || true
    done
    echo "::: base images made in $(since "$t0") s"
  fi
}

# build_image TAG: the README's build, with the local bases; its log in $OUT/build.log, its
# duration in build_s.
build_image() {
  local t1 registry cafile
  t1=$(now)
  local build_args=(--format docker --build-arg "BUILD_IMAGE=$BUILD_REF" --build-arg "BASE_IMAGE=$BASE_REF")
  registry=$(npm config get registry)
  [ -n "$registry" ] && build_args+=(--build-arg "NPM_REGISTRY=$registry")
  cafile=$(npm config get cafile)
  [ -s "$cafile" ] || cafile=${NODE_EXTRA_CA_CERTS:-}
  [ -n "$cafile" ] && [ -s "$cafile" ] && build_args+=(--secret "id=npmca,src=$cafile")
  echo "::: podman build ${build_args[*]} -t $1 . -> $OUT/build.log"
  if pm build "${build_args[@]}" -t "$1" . >"$OUT/build.log" 2>&1; then
    build_s=$(since "$t1")
    pass "image builds from the Dockerfile ($build_s s)"
  else
    tail -40 "$OUT/build.log"
    fail "image builds from the Dockerfile"
    finished=true
    exit 1
  fi
}

# Build cache of earlier Dockerfiles or base images: dangling images that inherited the base
# images' label, other than the layers this run's build used.
prune_stale_cache() {
  local keep id
  keep=$(grep -oE '^--> [0-9a-f]{11}$' "$OUT/build.log" 2>/dev/null | cut -c5- || true)
  for id in $(pm images -q --filter dangling=true --filter "label=$LABEL" 2>/dev/null); do
    grep -qx "${id:0:11}" <<<"$keep" || pm rmi "$id" >/dev/null 2>&1 || true
  done
}

# make_tls DIR: a CA (ca.pem) and a certificate for the host name `genesys` signed by it
# (genesys.pem, genesys-key.pem), for the emulator the gateway reaches over https.
make_tls() {
  local dir=$1
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=tokens-bff test CA' \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
      -keyout ca-key.pem -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj '/CN=genesys' -keyout genesys-key.pem -out genesys.csr
    printf 'subjectAltName=DNS:genesys\nextendedKeyUsage=serverAuth\n' >genesys.ext
    openssl x509 -req -in genesys.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
      -extfile genesys.ext -out genesys.pem
    rm -f ca-key.pem genesys.csr genesys.ext ca.srl
    chmod 0755 . && chmod 0444 ca.pem genesys.pem && chmod 0400 genesys-key.pem
  ) >"$OUT/tls.log" 2>&1
}

# browser_login BASE JAR CURL_ARGS...: the OAuth code flow as a browser runs it: GET
# BASE/auth/login, the emulator's login page, its form posted as the first user it offers, the
# callback, the redirect home. CURL_ARGS say how to reach https://genesys:8443 (--connect-to,
# --cacert). Cookies land in JAR; the status of the last answer is printed.
browser_login() {
  local base=$1 jar=$2
  shift 2
  local page=$WORK/login-page.html authorize user name value
  local c=(curl -sS -b "$jar" -c "$jar" "$@")
  authorize=$("${c[@]}" -o /dev/null -w '%{redirect_url}' "$base/auth/login")
  [[ $authorize == https://genesys:8443/oauth/authorize\?* ]] || {
    echo "     /auth/login redirected to '$authorize'"
    return 1
  }
  "${c[@]}" -o "$page" "$authorize"
  local form=()
  while IFS=$'\t' read -r name value; do
    form+=(--data-urlencode "$name=${value//&amp;/&}")
  done < <(grep -oE '<input type="hidden" name="[^"]*" value="[^"]*">' "$page" |
    sed -E 's/.*name="([^"]*)" value="([^"]*)".*/\1\t\2/')
  user=$(grep -oE 'name="user_id" value="[^"]*"' "$page" | head -n1 | sed -E 's/.*value="([^"]*)"/\1/')
  [ "${#form[@]}" -gt 0 ] && [ -n "$user" ] || {
    echo "     no login form at $authorize"
    return 1
  }
  # The form's POST answers 302 to the callback, which answers 302 home: curl follows as a browser.
  "${c[@]}" -L -o /dev/null -w '%{http_code}' "${form[@]}" --data-urlencode "user_id=$user" \
    https://genesys:8443/oauth/authorize/approve
}

# session_status BASE JAR: the status of GET /session with the session cookie in JAR.
session_status() {
  curl -sS -b "$2" -H 'X-CSRF: 1' -o "$WORK/session.json" -w '%{http_code}' "$1/session"
}

# free_port: a TCP port free on 127.0.0.1 now.
free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# wait_for URL SECONDS: true once URL answers 200.
wait_for() {
  local url=$1 end=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$end" ]; do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
