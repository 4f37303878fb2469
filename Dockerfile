# syntax=docker/dockerfile:1.7
# Tally's production image: one image for every process (web, worker, beat, migrate).
#
#   docker build -t tally .
#   docker run tally            # web: gunicorn with config/gunicorn.py on :8000
#   docker run tally worker     # Celery worker;  docker run tally beat   # Celery beat (one!)
#   docker run tally migrate    # manage.py migrate --noinput (once per release, before web)
#
# Dependencies come from uv.lock exactly (--frozen), without the dev group and without the
# `embedded` extra: production never starts embedded servers. docs/deploy.md.

ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# --- build: the virtualenv from uv.lock, the code, collected static files -----------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /app
# The lock file alone first, so the dependency layer is rebuilt only when uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY . .
# Static files (admin, Swagger UI, ReDoc) are collected and compressed at build; whitenoise
# serves them from the web process. The production settings need their required values to
# load: throwaway ones that never leave this step (nothing connects to a server).
RUN set -eu; \
    secret="$(/opt/venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(64))')"; \
    DJANGO_SETTINGS_MODULE=config.django.production \
    TALLY_VAR_DIR=/app/var \
    SECRET_KEY="$secret" METRICS_TOKEN="$secret" ALLOWED_HOSTS=build \
    DATABASE_URL=postgres://build@127.0.0.1:1/build REDIS_URL=redis://127.0.0.1:1/0 \
    /opt/venv/bin/python manage.py collectstatic --noinput -v 0

# --- runtime: the virtualenv, the code and the static files; no compiler, no uv -----------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.django.production \
    TALLY_VAR_DIR=/app/var \
    GUNICORN_BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
RUN groupadd --system --gid 10001 tally \
    && useradd --system --uid 10001 --gid tally --home-dir /app --no-create-home tally
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
# var/media holds invoice PDFs (mount shared storage there, or configure another Django
# storage); var/beat holds beat's schedule file. Both belong to the unprivileged user; the
# code and static files stay read-only to it.
RUN mkdir -p /app/var/media /app/var/beat \
    && chown -R tally:tally /app/var/media /app/var/beat
USER 10001:10001
EXPOSE 8000
# Liveness only: readiness (/health/ready: PostgreSQL, Redis, broker) is the load balancer's
# check. The Host header must be one of ALLOWED_HOSTS: keep "localhost" in it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:8000/health/live', headers={'Host': 'localhost'}), timeout=4)"]
ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["web"]
