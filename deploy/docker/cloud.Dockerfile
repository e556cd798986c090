# syntax=docker/dockerfile:1
# The edgeloop cloud process (`edgeloop cloud`), built from the repository root:
#   docker build -f deploy/docker/cloud.Dockerfile -t edgeloop-cloud .
# Stage `build` installs every dependency, compiles the sources to dist/ and prunes node_modules to production;
# the runtime stage copies that tree, runs as the image's unprivileged `node` user (uid 1000) and keeps its data
# in the /var/lib/edgeloop volume. Node 22 (the README's supported 20, 22, 24; 22 is the current LTS line).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles itself when no prebuilt binary fits the platform
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# onnxruntime-node's install script only downloads the CUDA provider (the CPU binaries are in the package)
ENV ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
# dependencies first: this layer is reused while package-lock.json is unchanged
COPY package.json package-lock.json ./
COPY scripts/build.mjs scripts/build-info.mjs scripts/
RUN npm ci --no-audit --no-fund
COPY bin bin
COPY agent agent
COPY cloud cloud
COPY cli cli
COPY lib lib
COPY models models
COPY protocol protocol
COPY simulator simulator
COPY transport transport
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# the sources come along with dist/: bin/edgeloop.js runs dist/ only while it is fresh against them
COPY --from=build /app /app
COPY deploy/docker/cloud.yaml /etc/edgeloop/cloud.yaml
RUN mkdir -p /var/lib/edgeloop && chown node:node /var/lib/edgeloop
VOLUME /var/lib/edgeloop
USER node
# MQTT is the broker's (broker.mode: external); 9464 serves /healthz and /metrics
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.EDGELOOP_HTTP__PORT || 9464) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/edgeloop.js", "cloud", "--config", "/etc/edgeloop/cloud.yaml"]
