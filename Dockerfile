# syntax=docker/dockerfile:1
# The reexport image: the daemon and the operator commands (daemon, once, validate, verify,
# preview, apply, init) on Node 24, git and ssh, as an unprivileged user. The demo (`npm start`,
# `reexport demo`) is not in it: its in-process directory, ldapjs, is a development dependency.
#
# Build: docker build -t registry.example.org/iam/reexport:0.1.0 .
#
# The base image is pinned by digest, so a rebuild gets the same bits until the pin is moved on
# purpose. To update it (new Node 24 patch release, Debian security fixes):
#   docker buildx imagetools inspect node:24-bookworm-slim
# and put the top "Digest:" (the multi-platform index) here.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

# Build: compile TypeScript with the full dependency tree, then drop the development dependencies.
# test/deploy/build.test.ts runs the same steps without a container engine.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY schemas ./schemas
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run: only what the commands need.
FROM ${NODE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 reexport \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/reexport --create-home reexport
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY schemas ./schemas
# `reexport init` copies this starter repository.
COPY scaffold ./scaffold
# `reexport` on the PATH, as docs/ write it (kubectl exec deploy/reexport -- reexport refresh …).
RUN ln -s /app/bin/reexport.js /usr/local/bin/reexport
# Numeric, so Kubernetes' runAsNonRoot can verify it (deploy/base runs as the same uid).
USER 10001:10001
ENV NODE_ENV=production
# The daemon config is mounted here (a ConfigMap in deploy/base); the healthcheck reads its port.
ENV REEXPORT_CONFIG=/etc/reexport/config.yaml
VOLUME ["/var/lib/reexport"]
# The default http.port; the healthcheck follows whatever the config says.
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD ["node", "/app/dist/cli/healthcheck.js"]
# The launcher itself, not `node` and it: its first line holds the Node flags reexport runs with.
ENTRYPOINT ["/usr/bin/tini", "--", "/app/bin/reexport.js"]
CMD ["daemon", "--config", "/etc/reexport/config.yaml"]
