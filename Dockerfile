# syntax=docker/dockerfile:1
# One image for the three CDT Desk services: `cdt serve roster|assist|reporting`.
# The base is pinned by exact tag; for production pin it by digest too
# (python:3.11.11-slim-bookworm@sha256:...), and pin this image by digest where it is deployed.

FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY cdt ./cdt
RUN python -m venv /opt/cdt && /opt/cdt/bin/pip install . && /opt/cdt/bin/cdt --help >/dev/null

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="cdt-desk" \
      org.opencontainers.image.description="CDT Desk services (roster, assist, reporting)" \
      org.opencontainers.image.licenses="Apache-2.0"
# Read-only root filesystem at run time: no bytecode writes; the state directory lives in /tmp
# (a tmpfs or emptyDir), and nothing is kept there when the broker and database are configured.
ENV PATH=/opt/cdt/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CDT_HOST=0.0.0.0 \
    CDT_STATE_DIR=/tmp/cdt
RUN groupadd --system --gid 10001 cdt \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin cdt
COPY --from=build /opt/cdt /opt/cdt
# An empty working directory: pydantic-settings reads ./.env, and there must be none in the image.
WORKDIR /app
USER 10001:10001
EXPOSE 8001 8002 8003
# Process alive: whichever of the three ports this container's service listens on answers /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request\nfor name, port in (('ROSTER', 8001), ('ASSIST', 8002), ('REPORTING', 8003)):\n    url = 'http://127.0.0.1:%s/healthz' % os.environ.get('CDT_%s_PORT' % name, port)\n    try:\n        urllib.request.urlopen(url, timeout=3)\n        sys.exit(0)\n    except OSError:\n        pass\nsys.exit(1)"]
ENTRYPOINT ["cdt"]
CMD ["serve", "roster"]
