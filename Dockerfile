# fly-agents bot: a small, non-root runtime image. No secrets are baked in: every setting
# comes from the environment (on Fly: `fly secrets set`), the database lives on a volume.

FROM python:3.12-slim AS build
WORKDIR /src
# Runtime dependencies only (no dev extra), exactly as locked: requirements.lock pins every
# package with its hashes (`make lock` writes it from pyproject.toml), so an image built later
# has the same packages as the one tested, and a changed download fails the build.
COPY requirements.lock ./
RUN python -m pip install --no-cache-dir --prefix=/install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY flyclient ./flyclient
COPY storage ./storage
COPY emulators ./emulators
# The project itself; its dependencies are all in the lock above, so none is resolved again.
RUN python -m pip install --no-cache-dir --no-deps --prefix=/install .

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
