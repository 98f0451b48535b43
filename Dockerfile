# dutywatch: one process, SQLite in /data by default; set DUTYWATCH_DB_URL for PostgreSQL.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc g++ make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY notifiers ./notifiers
RUN pip install . && apt-get purge -y gcc g++ make && apt-get autoremove -y
COPY rules ./rules
COPY config ./config
RUN useradd --system --home /data dutywatch && mkdir -p /data /app/var && chown dutywatch /data /app/var
USER dutywatch
ENV DUTYWATCH_DB_URL=sqlite:////data/dutywatch.db DUTYWATCH_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=60s --timeout=10s CMD ["dutywatch", "check"]
CMD ["dutywatch", "run"]
