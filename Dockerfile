# syntax=docker/dockerfile:1
# tokens-bff: build with the dev dependencies, ship only dist/, the production node_modules and
# package.json, and start `node` (not npm, which may not pass SIGTERM on) as a non-root user.
#
#   docker build -t tokens-bff .
#   docker run --rm -p 3000:3000 -e PUBLIC_BASE_URL=… -e OAUTH_CLIENT_ID=… -e SESSION_SECRET=… tokens-bff
#
# Both stages are Debian bookworm, so the better-sqlite3 addon compiled (or fetched prebuilt) in the
# first one links against the same glibc as the second. scripts/container-test.sh passes local
# stand-ins for the two images (where no image registry is reachable) and, when npm goes through
# a TLS-intercepting proxy, that proxy's CA as the build secret `npmca` (never a layer).
ARG BUILD_IMAGE=node:20-bookworm
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /app
# Optional: another npm registry than the default one, e.g. a company mirror.
ARG NPM_REGISTRY=
COPY package.json package-lock.json ./
# The full image has python3, make and g++ for node-gyp, in case no prebuilt better-sqlite3 fits.
RUN --mount=type=secret,id=npmca \
    if [ -s /run/secrets/npmca ]; then export npm_config_cafile=/run/secrets/npmca; fi; \
    if [ -n "$NPM_REGISTRY" ]; then export npm_config_registry="$NPM_REGISTRY"; fi; \
    npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY config ./config
COPY server ./server
COPY client ./client
# Compile, then drop the dev dependencies, and keep of better-sqlite3's build only the addon.
RUN npm run build \
    && npm prune --omit=dev --no-audit --no-fund \
    && cd node_modules/better-sqlite3 \
    && mv build/Release/better_sqlite3.node . \
    && rm -rf build deps src \
    && mkdir -p build/Release \
    && mv better_sqlite3.node build/Release/

FROM ${BASE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0 \
    SESSION_SQLITE_PATH=/data/sessions.sqlite
# A fixed uid/gid outside the range of the base image's own users, so volume ownership and
# Kubernetes' runAsNonRoot/runAsUser can name it.
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data
WORKDIR /app
# The code stays root-owned and read-only to the user that runs it.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The demo page: served only with STATIC_DIR=/app/demo/public.
COPY demo/public ./demo/public
USER 10001:10001
# The embedded SQLite session store; sessions survive a restart when this is a volume.
VOLUME ["/data"]
EXPOSE 3000
# Liveness without curl: Node 20 has fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# On SIGTERM main.ts exits 0 as soon as the requests in flight are done, cutting any still running
# after SHUTDOWN_DRAIN_SECONDS (10 s): give `docker stop` a longer timeout than that bound
# (`--stop-timeout 15`; Kubernetes' default grace period is 30 s).
STOPSIGNAL SIGTERM
CMD ["node", "dist/server/main.js"]
