#!/bin/sh
# The image's entrypoint: one command per Tally process (docs/deploy.md).
set -eu

# prometheus_client keeps each process's metrics in files under PROMETHEUS_MULTIPROC_DIR:
# gunicorn's workers, served by any of them at /metrics, and a Celery worker's pool
# processes when WORKER_METRICS_BIND has the worker serve them (docs/deploy.md). Other
# commands keep theirs in memory. A directory left over from an earlier run would add dead
# processes' counts, so it starts empty.
case "${1:-web}" in
web) ;;
worker) [ -n "${WORKER_METRICS_BIND:-}" ] || unset PROMETHEUS_MULTIPROC_DIR ;;
*) unset PROMETHEUS_MULTIPROC_DIR ;;
esac
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

case "${1:-web}" in
web)
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
