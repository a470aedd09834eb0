# syntax=docker/dockerfile:1
# The three services in one image: gateway, provisioning-core, directory-store.
#   docker build -t scim-provisioning:0.1.0 .
# Dependencies are compiled in their own layer (cargo-chef), rebuilt only when Cargo.lock or a
# manifest changes; the runtime image is distroless, without a shell, running as non-root.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
# librdkafka builds from source (rdkafka-sys) and links OpenSSL; PostgreSQL's client library
# and SQLite are bundled crates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install --locked cargo-chef --version 0.1.78
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json \
    -p gateway -p provisioning-core -p directory-store
COPY . .
RUN cargo build --release --locked -p gateway -p provisioning-core -p directory-store

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /build/target/release/gateway /build/target/release/provisioning-core /build/target/release/directory-store /usr/local/bin/
# distroless "nonroot": uid and gid 65532.
USER 65532:65532
# gateway SCIM 8080, management 9090; provisioning-core gRPC 50051, admin 8081, portal 8082;
# directory-store HTTP 8090, gRPC 50052.
EXPOSE 8080 9090 50051 8081 8082 8090 50052
ENTRYPOINT ["/usr/local/bin/gateway"]
