# syntax=docker/dockerfile:1
# The edge agent, from the packed agent (`npm run pack:agent`), not from the repository. pack:agent packs for the
# machine it runs on, so pack once on an x64 and once on an arm64 machine (a Raspberry Pi 4/5 will do), put both
# tarballs in one folder and build the two platforms from it (the folder is the build context):
#   npm run pack:agent -- --out agent-dist         # on each architecture; copy the .tgz files together
#   docker buildx build --platform linux/arm64,linux/amd64 -f deploy/docker/agent.Dockerfile \
#     --build-arg VERSION=0.1.0 -t edgeloop-agent:0.1.0 agent-dist
# Stage `unpack` runs on the build machine's own platform and picks the tarball of the target architecture; the
# final stage only copies files, so no emulation (QEMU) is needed for the other architecture.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS unpack
ARG TARGETARCH
ARG VERSION=0.1.0
WORKDIR /unpack
COPY edgeloop-agent-${VERSION}-linux-*.tgz ./
# Docker names the architectures amd64/arm64, Node (and the tarballs) x64/arm64
RUN case "$TARGETARCH" in amd64) arch=x64 ;; arm64) arch=arm64 ;; *) echo "no edgeloop agent for $TARGETARCH" >&2; exit 1 ;; esac \
 && tar -xzf "edgeloop-agent-${VERSION}-linux-${arch}.tgz" \
 && mv "edgeloop-agent-${VERSION}-linux-${arch}" /opt/edgeloop-agent \
 && mkdir -p /var/lib/edgeloop-agent

FROM ${NODE_IMAGE} AS runtime
COPY --from=unpack /opt/edgeloop-agent /opt/edgeloop-agent
# the outbox and the model store: owned by the `node` user (uid 1000) the agent runs as
COPY --from=unpack --chown=1000:1000 /var/lib/edgeloop-agent /var/lib/edgeloop-agent
VOLUME /var/lib/edgeloop-agent
WORKDIR /opt/edgeloop-agent
USER node
# the device's own config, mounted at run time (deploy/docker/agent.yaml is an example): its health.port 9465
EXPOSE 9465
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.EDGELOOP_HEALTH__PORT || 9465) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
CMD ["/opt/edgeloop-agent/bin/edgeloop-agent", "--config", "/etc/edgeloop/agent.yaml"]
