# syntax=docker/dockerfile:1
# Build stage: install the service (migrations included, as package data) into a virtualenv.
# No extras: the embedded PostgreSQL (`llma[embedded]`) is for development only.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install .

# Runtime stage: the virtualenv and a non-root user; nothing else (no source tree).
FROM python:3.11-slim-bookworm
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    DATA_DIR=/var/lib/llma \
    HOST=0.0.0.0 \
    PORT=8000
RUN groupadd --system --gid 10001 llma \
    && useradd --system --uid 10001 --gid llma --home-dir /srv/llma --create-home llma \
    && mkdir -p /var/lib/llma \
    && chown llma:llma /var/lib/llma
WORKDIR /srv/llma
COPY --from=build /opt/venv /opt/venv
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os,sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2).status == 200 else 1)"]
# `llma serve` checks its settings (DATABASE_URL, ENCRYPTION_KEYS), applies migrations, then
# starts uvicorn on HOST:PORT.
CMD ["llma", "serve", "--workers", "2"]
