# fly-agents bot: a small, non-root runtime image. No secrets are baked in: every setting
# comes from the environment (on Fly: `fly secrets set`), the database lives on a volume.

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY flyclient ./flyclient
COPY storage ./storage
COPY emulators ./emulators
# Runtime dependencies only (no dev extra), installed into a self-contained prefix.
RUN python -m pip install --no-cache-dir --prefix=/install .

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 flyagents \
    && mkdir -p /data && chown flyagents:flyagents /data
COPY --from=build /install /usr/local
USER flyagents
WORKDIR /home/flyagents
ENV PYTHONUNBUFFERED=1 \
    FLYAGENTS_DB_PATH=/data/flyagents.db \
    FLYAGENTS_HEARTBEAT_PATH=/data/heartbeat \
    FLYAGENTS_LOG_FORMAT=json
VOLUME ["/data"]
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot", "health"]
CMD ["python", "-m", "bot", "run"]
