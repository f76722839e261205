# syntax=docker/dockerfile:1
# Cloudbridge image: the three binaries (cloudbridge-api, cloudbridge-jobs, cloudbridge-scheduler)
# on Debian slim, run as a non-root user, local storage under the /data volume.
#   docker build -t cloudbridge .
#   docker run cloudbridge                        # the API (default command)
#   docker run cloudbridge cloudbridge-jobs       # a worker
# Configuration: DATABASE_URL, REDIS_URL, CLOUDBRIDGE_<SECTION>__<KEY> (see docker-compose.yml).

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the crate registry and build artefacts between builds; the binaries are
# copied out of the cached target/ so that the next stage can take them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --bins --locked \
 && mkdir -p /out \
 && cp target/release/cloudbridge-api target/release/cloudbridge-jobs \
       target/release/cloudbridge-scheduler /out/

# The Kloudless widgets' bundles the API serves, as pinned by widgets/package-lock.json.
FROM node:20-bookworm-slim AS widgets
WORKDIR /widgets
COPY widgets/package.json widgets/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM debian:bookworm-slim
# curl: for health checks (docker-compose.yml).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
# /data is created (and owned) before VOLUME so that new named volumes inherit the ownership.
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin cloudbridge \
 && mkdir -p /data \
 && chown cloudbridge:cloudbridge /data
COPY --from=builder /out/ /usr/local/bin/
COPY --from=widgets /widgets/node_modules /usr/share/cloudbridge/widgets
ENV CLOUDBRIDGE_LOCAL__DATA_ROOT=/data \
    CLOUDBRIDGE_WIDGETS__BUNDLES_DIR=/usr/share/cloudbridge/widgets
VOLUME /data
WORKDIR /data
USER cloudbridge
# API, worker metrics, scheduler metrics.
EXPOSE 8000 9101 9102
CMD ["cloudbridge-api"]
