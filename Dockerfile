# syntax=docker/dockerfile:1
# Shadowgate's image, as the Kubernetes manifests use it (deploy/k8s/gateway):
#   docker build -t shadowgate:0.1.0 .
# Both stages use the same base image: better-sqlite3 is a native addon, built in the first stage
# against this Node.js and this libc, and copied as is.

FROM node:24-slim AS builder
# node-gyp's toolchain, for when better-sqlite3 has no prebuilt binary to fetch.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` (tsc) needs the sources, copied below; the native
# addon's install script is run explicitly instead.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
# The diff explorer's sources (/ui), bundled into dist/ui by the build.
COPY ui ./ui
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node -e "require('better-sqlite3')(':memory:').close()"

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=builder /app/package.json ./package.json
COPY --from=builder /app/node_modules ./node_modules
COPY --from=builder /app/dist/src ./dist/src
COPY --from=builder /app/dist/ui ./dist/ui
COPY --from=builder /app/bin ./bin
# `shadowgate demo` replays these files.
COPY examples ./examples
# The default --store (shadowgate.db) is relative: run from a directory the user can write.
RUN mkdir -p /var/lib/shadowgate && chown 10001:10001 /var/lib/shadowgate
WORKDIR /var/lib/shadowgate
USER 10001:10001
EXPOSE 8000 15000
# --no-memory-reducer: see workerExecArgv (src/gateway/workers.ts); with --workers 1 this process serves itself.
ENTRYPOINT ["node", "--no-memory-reducer", "/app/bin/shadowgate.js"]
CMD ["--help"]
