# syntax=docker/dockerfile:1
# Builds every EDM service into one image, used by docker-compose.yml (each
# compose service runs a different binary from it). Multi-stage: cargo-chef
# compiles the dependencies in their own layer (librdkafka from source, which
# needs cmake, libssl-dev, pkg-config and zlib), so changing the services'
# code rebuilds only the workspace crates.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=trixie

# Toolchain, C build dependencies and cargo-chef.
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake libssl-dev pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app

# The dependency "recipe": changes only when manifests or the lock file do.
FROM chef AS planner
COPY Cargo.toml Cargo.lock rust-toolchain ./
COPY crates crates
RUN cargo chef prepare --recipe-path recipe.json

# Dependencies first (cached), then the workspace's own crates, with the
# topology.json that edm-config compiles in.
FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
COPY rust-toolchain ./
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY Cargo.toml Cargo.lock topology.json ./
COPY crates crates
COPY migrations migrations
ENV SQLX_OFFLINE=true
RUN cargo build --release --locked

# Small runtime image with the binary of every service in topology.json;
# curl serves the health checks.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl openssl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app edm
WORKDIR /app
COPY migrations migrations
COPY --from=builder \
     /app/target/release/edm-relay \
     /app/target/release/edm-stream \
     /app/target/release/edm-stats \
     /app/target/release/edm-trending \
     /app/target/release/edm-ui \
     /app/target/release/edm-dashboard \
     /usr/local/bin/
USER edm
CMD ["edm-relay"]
