# syntax=docker/dockerfile:1
#
# Both binaries from one build, two images:
#   docker build --target gateway  -t ghcr.io/stowage/gateway:0.1.0 .
#   docker build --target operator -t ghcr.io/stowage/operator:0.1.0 .
# (The last stage, `operator`, is the default target.)

# Rust 1.95 is the toolchain the workspace is pinned to (rust-version in Cargo.toml).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Registry and target caches survive between builds; the binaries are copied out of the cache
# mount so the final stages can take them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p stowage-gateway -p stowage-operator --bin gateway --bin operator \
 && mkdir -p /out \
 && cp target/release/gateway target/release/operator /out/

# distroless/cc: glibc and libgcc, no shell, user 65532 (`nonroot`), which the operator's
# StatefulSets and the Deployment run as.
FROM gcr.io/distroless/cc-debian12:nonroot AS gateway
COPY --from=build /out/gateway /usr/local/bin/gateway
USER 65532:65532
EXPOSE 9000
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["serve", "--listen", "0.0.0.0:9000", "--data-dir", "/var/lib/stowage"]

FROM gcr.io/distroless/cc-debian12:nonroot AS operator
COPY --from=build /out/operator /usr/local/bin/operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/operator"]
CMD ["run"]
