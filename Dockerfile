# One image for every part (DESIGN.md, "The parts"): the webhook and the controller run it, and the webhook
# injects it as the proxy. Build: docker build -t sluice:0.1.0 .

# The Node.js image both stages build on: the newest LTS line by default. Any supported line (package.json
# engines) can be chosen instead, e.g. docker build --build-arg NODE_IMAGE=node:22-slim -t sluice:0.1.0 .
ARG NODE_IMAGE=node:26-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run the build before the sources are here; it runs below instead.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY webhook webhook
COPY proxy proxy
RUN npm run build

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Progressive delivery for Kubernetes without a service mesh" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
# Production dependencies only. None of them needs an install script, and `prepare` (the TypeScript build)
# must not run here: there is no compiler in this stage, the build comes from the first one.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin bin
COPY --from=build /app/dist dist
# The uid the manifests' securityContext runs as; no shell login, no home directory needed.
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/sluice.js"]
