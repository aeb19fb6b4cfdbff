# syntax=docker/dockerfile:1
#
# The infragraph image: one binary, `infragraph`, whose subcommands are every
# stage (collect procfs|cloudmap|github, normalize, write, up, export).
#
#   docker build -t infragraph:0.1.0 --build-arg VERSION=0.1.0 .
#   docker run --rm infragraph:0.1.0 normalize --kafka-brokers kafka:9092
#
# docker-compose.yml builds it and runs each stage from it. A cold build
# compiles librdkafka, aws-lc and the rest: about 10 minutes on two cores.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
# C toolchain for the bundled librdkafka, aws-lc, mimalloc and SQLite builds.
# Versions come with the pinned Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ gcc make perl pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Registry and target caches survive between builds (BuildKit); the binary is
# copied out of the cache mount so the next stage can take it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p infragraph --bin infragraph \
 && install -D -m 0755 target/release/infragraph /out/infragraph

FROM debian:${DEBIAN_RELEASE}-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="infragraph" \
      org.opencontainers.image.description="Maps running infrastructure into a live graph: collectors, normalizer and graph writer" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/infragraph/infragraph"
# CA roots for the GitHub and AWS APIs (rustls reads the system's).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 infragraph \
 && useradd --system --uid 10001 --gid infragraph --home-dir /var/lib/infragraph --create-home \
      --shell /usr/sbin/nologin infragraph
COPY --from=build /out/infragraph /usr/local/bin/infragraph
# The embedded store (write or up without --neo4j-uri): mount a volume here.
ENV INFRAGRAPH_DATA_DIR=/var/lib/infragraph \
    INFRAGRAPH_LOG_FORMAT=json
WORKDIR /var/lib/infragraph
# Non-root by default. The procfs collector, which must read other users'
# /proc entries, is run as root with two capabilities in docker-compose.yml.
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/infragraph"]
CMD ["--help"]
