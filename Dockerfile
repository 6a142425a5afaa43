# The rbee-registry image docker-compose.yml runs: a release build on Debian bookworm.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin rbee-registry

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/rbee-registry rbee && mkdir -p /var/lib/rbee-registry \
    && chown rbee /var/lib/rbee-registry
COPY --from=build /src/target/release/rbee-registry /usr/local/bin/rbee-registry
USER rbee
EXPOSE 8787
ENTRYPOINT ["rbee-registry"]
CMD ["serve", "--listen", "0.0.0.0:8787"]
