# dutywatch: one process; SQLite in /data by default, PostgreSQL with DUTYWATCH_DB_URL.
# durable-rules ships no wheel: it builds from source in the builder stage, which the runtime
# image does not carry.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# the compilers only build durable-rules' C extension here; pinning them would break on each base update
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY notifiers ./notifiers
RUN python -m venv /opt/dutywatch && /opt/dutywatch/bin/pip install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/dutywatch/bin:$PATH \
    DUTYWATCH_CONFIG=/app/config/dutywatch.yaml \
    DUTYWATCH_DB_URL=sqlite:////data/dutywatch.db \
    DUTYWATCH_LISTEN=0.0.0.0:8080
RUN useradd --system --uid 10001 --create-home --home-dir /data dutywatch
COPY --from=builder /opt/dutywatch /opt/dutywatch
WORKDIR /app
# config/ and rules/ can be mounted over these to change them without a rebuild
COPY config ./config
COPY rules ./rules
RUN mkdir -p /app/var && chown 10001 /app/var
USER 10001
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s CMD ["dutywatch", "check"]
CMD ["dutywatch", "run"]
