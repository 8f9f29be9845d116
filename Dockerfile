# tagstream worker image.
#   docker build -t tagstream .
#   docker run --rm -p 6066:6066 -e TAGSTREAM_KAFKA_BROKER=... tagstream
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install the project (console script `tagstream`) from pyproject.toml into /install
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip install --prefix=/install .

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
