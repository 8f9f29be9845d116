# tagstream worker image.
#   docker build -t tagstream .
#   docker run --rm -p 6066:6066 -e TAGSTREAM_KAFKA_BROKER=... tagstream
ARG PYTHON_IMAGE=python:3.11-slim
ARG RUST_IMAGE=rust:1.95-slim

# --- rust: only a source of the Rust toolchain that compiles stream._native (native/)
FROM ${RUST_IMAGE} AS rust

# --- build: install the project (console script `tagstream`) from pyproject.toml into /install;
# pip runs maturin, which compiles the extension with cargo and links it with the C compiler.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY --from=rust /usr/local/rustup /usr/local/rustup
COPY --from=rust /usr/local/cargo /usr/local/cargo
WORKDIR /src
COPY . .
# The pinned, hashed dependencies (scripts/lock.sh), then the project itself without resolving again.
RUN pip install --prefix=/install --require-hashes -r requirements.lock \
 && pip install --prefix=/install --no-deps .

# --- runtime: only the installed packages, no sources or build context
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TAGSTREAM_WEB_PORT=6066 \
    TAGSTREAM_DATA_DIR=/data

RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tagstream \
 && mkdir -p /data && chown tagstream:tagstream /data

COPY --from=build /install /usr/local

USER tagstream
WORKDIR /data
EXPOSE 6066

CMD ["tagstream", "worker"]
