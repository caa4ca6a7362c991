# psen-processing container image.
#
#   docker build -t psen-processing .
#   docker run --rm --init --net=host --read-only --cap-drop=ALL \
#     --security-opt no-new-privileges -v /var/lib/psen-processing/M2:/data psen-processing \
#     tcp://cam-host:9010 SARES11-SPEC125-M2 -o 8895 -i 8896 -r 11002 --auto_start
#
# The arguments are the service's command line (docs/service.md), exactly as for the old image.
# The service writes nothing but its state under /data: it runs with --read-only (docs/deploy.md).
# test/docker-steps.test.ts runs this file's build steps in a clean copy of the repository.

# One line to move to another Node line (bookworm = glibc 2.36: zeromq's prebuilt addon loads).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so this layer is reused until the lock file changes. --ignore-scripts: the
# package's own `prepare` would build before the sources are here, and no dependency needs its
# install script (zeromq ships prebuilt addons, esbuild its platform package).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
  && rm -rf node_modules/zeromq/build/darwin node_modules/zeromq/build/win32
# Fail the build, not the deployment, when the zeromq addon or the kernel cannot load here.
RUN node -e "require('zeromq')" \
  && node bin/psen-processing.js --help > /dev/null

FROM ${NODE_IMAGE} AS runtime
# The default state file of each instance: /data/psen-processing/PREFIX-PORT.json.
ENV NODE_ENV=production \
    XDG_STATE_HOME=/data
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/bin ./bin
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/build/kernel.wasm ./build/kernel.wasm
# The --threads workers' build of the kernel (shared memory).
COPY --from=build --chown=node:node /app/build/kernel.shared.wasm ./build/kernel.shared.wasm
COPY --chown=node:node deploy/docker/healthcheck.mjs ./healthcheck.mjs
# The state file (ROIs, parameters, change history) lives in the volume; bind-mount a host
# directory owned by uid 1000 there to keep it across container replacements. It is the only
# place the service writes to.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
# Documentation only: production runs with --net=host and every port on the command line.
EXPOSE 8888 8889 10000
# Asks the HTTP API's /health on the port the service was started with (-r / --rest_api_port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "/app/healthcheck.mjs"]
# Exec form: node is the container's main process, receives docker stop's SIGTERM and stops
# cleanly. No node flags: the service sets what its frame path needs itself.
ENTRYPOINT ["node", "/app/bin/psen-processing.js"]
