# syntax=docker/dockerfile:1
# Build: compile TypeScript with the full dependency tree.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY schemas ./schemas
RUN npm run build && npm prune --omit=dev

# Run: only what the daemon needs, as an unprivileged user.
FROM node:24-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY schemas ./schemas
# config-example/ seeds `reexport demo`; it is not read by the daemon.
COPY config-example ./config-example
RUN useradd --system --uid 10001 --home-dir /var/lib/reexport --create-home reexport
USER reexport
ENV NODE_ENV=production
# The daemon config is mounted (ConfigMap); the bind password comes from a mounted Secret or the environment.
VOLUME ["/var/lib/reexport"]
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:9464/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/reexport.js"]
CMD ["daemon", "--config", "/etc/reexport/config.yaml"]
