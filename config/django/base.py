"""Settings shared by every environment. Values come from the environment (see config/env.py)."""

from __future__ import annotations

from pathlib import Path

from config.env import VAR_DIR, database_config, env, prepare_threshold, service_urls

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

# Embedded servers start when both URLs are unset, except in production (see production.py).
DATABASE_URL, REDIS_URL = service_urls(
    allow_embedded=env.bool("TALLY_ALLOW_EMBEDDED", default=True)
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "django_guid",
    "tally.platform",
    "tally.identity",
    "tally.ledger",
    "tally.credit",
    "tally.topups",
    "tally.notifications",
    "tally.offers",
    "tally.partners",
    "tally.catalog",
    "tally.orders",
    "tally.payments",
    "tally.invoices",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        **database_config(DATABASE_URL),
        "ENGINE": "django_prometheus.db.backends.postgresql",
        # psycopg 3 connection pool per process; CONN_MAX_AGE must stay 0 with a pool.
        "CONN_MAX_AGE": 0,
        # Behind PgBouncer in transaction mode a server-side cursor (QuerySet.iterator())
        # would outlive the transaction that declared it on a connection PgBouncer has
        # handed to another client: set true there (docs/deploy.md#pgbouncer). Prepared
        # statements need nothing: Django's psycopg backend leaves them off by default.
        "DISABLE_SERVER_SIDE_CURSORS": env.bool(
            "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
        ),
        "OPTIONS": {
            # Parameters bound by PostgreSQL, not quoted into the SQL text by the driver, and
            # a statement prepared (parsed and planned once per connection) from its 5th run
            # on: about a fifth less web CPU and a third less time per sale
            # (docs/benchmarks.md#tuning-log). Behind PgBouncer in transaction mode,
            # prepared statements need PgBouncer 1.21+ with max_prepared_statements set, or
            # DATABASE_PREPARE_THRESHOLD=off (docs/deploy.md).
            "server_side_binding": env.bool("DATABASE_SERVER_SIDE_BINDING", default=True),
            "prepare_threshold": prepare_threshold(
                env.str("DATABASE_PREPARE_THRESHOLD", default="5")
            ),
            "pool": {
                "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
                "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
                # How long a request waits for a connection. A sync worker uses one at a
                # time, so this only runs out when PostgreSQL is unreachable: the request
                # then answers 503 service_unavailable quickly instead of holding the worker.
                "timeout": env.float("DATABASE_POOL_TIMEOUT_SECONDS", default=3.0),
            },
        },
    }
}
# A streaming replica for reads that tolerate its replay lag: statement pages only, chosen
# explicitly by tally.platform.db.read_replica() (docs/deploy.md#read-replica). Unset:
# everything reads the primary, with no router. Never migrated, never written
# (tally.platform.db.PrimaryRouter); its own small pool, the rest as the primary's. In tests
# it mirrors "default".
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **DATABASES["default"],
        **database_config(DATABASE_REPLICA_URL),
        "ENGINE": DATABASES["default"]["ENGINE"],
        "OPTIONS": {
            **DATABASES["default"]["OPTIONS"],
            "pool": {**DATABASES["default"]["OPTIONS"]["pool"], "min_size": 1},
        },
        # A replica restarts on its own schedule (a failover, a rebuild): its pool checks a
        # connection before lending it (one empty query), so a connection the restart broke
        # is replaced instead of failing a statement page.
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["tally.platform.db.PrimaryRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="tally"),
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
        },
    }
}

AUTH_USER_MODEL = "identity.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Where stored files (invoice PDFs) go with the default file storage.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# Error pages are problem+json too (tally.platform.api.errors).
CSRF_FAILURE_VIEW = "tally.platform.api.errors.csrf_failure"

TALLY_CURRENCY = env.str("TALLY_CURRENCY", default="USD")
TALLY_DEMO_DATA = False
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="US")

from config.settings.celery import *  # noqa: E402, F403
from config.settings.credit import *  # noqa: E402, F403
from config.settings.email import *  # noqa: E402, F403
from config.settings.invoices import *  # noqa: E402, F403
from config.settings.jwt import *  # noqa: E402, F403
from config.settings.logging import *  # noqa: E402, F403
from config.settings.offers import *  # noqa: E402, F403
from config.settings.orders import *  # noqa: E402, F403
from config.settings.partners import *  # noqa: E402, F403
from config.settings.rest import *  # noqa: E402, F403
from config.settings.sslcommerz import *  # noqa: E402, F403
