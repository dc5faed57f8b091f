# menshen container image.
#
#   docker build -t registry.example.com/menshen:0.1.0 .
#   docker run --rm --read-only -p 8080:8080 -v "$PWD/menshen.yaml:/etc/menshen/menshen.yaml:ro" \
#     registry.example.com/menshen:0.1.0          # = menshen serve --config /etc/menshen/menshen.yaml
#
# Stages: build (all dependencies, compiles TypeScript to dist/) -> deps (production dependencies
# only) -> runtime (Node 22 LTS, non-root uid 10001, nothing written outside /tmp).
# test/helm/dockerfile.test.ts checks this file statically and replays the build stage.

ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no production dependency needs an install script; none gets to run one.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
# npm, npx, corepack and yarn are not needed at run time: less to patch, smaller image.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
  && groupadd --gid 10001 menshen \
  && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin menshen
ENV NODE_ENV=production \
    MENSHEN_CONFIG=/etc/menshen/menshen.yaml
WORKDIR /app
# Everything below is owned by root and read-only for the menshen user.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 10001:10001
EXPOSE 8080 9090
# Liveness only (the process answers); readiness is /readyz, for Kubernetes to probe.
# MENSHEN_HEALTHCHECK_URL overrides the URL when server.listen uses another port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.MENSHEN_HEALTHCHECK_URL || 'http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/src/main.js"]
CMD ["serve"]
