#!/bin/sh
# The image's entrypoint: one command per Tally process (docs/deploy.md).
set -eu

if [ "${1:-web}" != web ]; then
    # Only gunicorn's workers share metrics through files (served by any of them at
    # /metrics); other processes keep theirs in memory (nothing scrapes a Celery worker yet:
    # docs/deploy.md).
    unset PROMETHEUS_MULTIPROC_DIR
fi

case "${1:-web}" in
web)
    # prometheus_client keeps each gunicorn worker's metrics in files here; a directory left
    # over from an earlier run would add dead workers' counts, so it starts empty.
    if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
        rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"
        mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    fi
    exec gunicorn -c config/gunicorn.py config.wsgi:application
    ;;
worker)
    exec celery -A config worker -l "${LOG_LEVEL:-INFO}" -c "${WORKER_CONCURRENCY:-2}"
    ;;
beat)
    exec celery -A config beat -l "${LOG_LEVEL:-INFO}" -s /app/var/beat/celerybeat-schedule
    ;;
migrate)
    exec python manage.py migrate --noinput
    ;;
manage)
    shift
    exec python manage.py "$@"
    ;;
*)
    exec "$@"
    ;;
esac
