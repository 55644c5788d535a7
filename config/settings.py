"""Outlay settings, read from the environment (12-factor). Every variable is listed in README.md.

``OUTLAY_ENV=production`` turns on production mode: it refuses to start without a real
``SECRET_KEY`` and sets the secure defaults that ``manage.py check --deploy`` asks for.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


OUTLAY_ENV = os.environ.get("OUTLAY_ENV", "development")
PRODUCTION = OUTLAY_ENV == "production"
DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105

SECRET_KEY = os.environ.get("SECRET_KEY", "" if PRODUCTION else DEV_SECRET_KEY)
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY == DEV_SECRET_KEY):
    # One line, non-zero exit: an operator sees the reason, not a traceback.
    sys.exit("outlay: production mode needs SECRET_KEY set to a random value of 50+ characters")

DEBUG = env_bool("DEBUG", not PRODUCTION)
if PRODUCTION and DEBUG:
    # Debug pages show settings, SQL and tracebacks to whoever asks: never in production.
    sys.exit("outlay: production mode refuses DEBUG=1")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "axes",  # the one lock-out for every way in (core/lockout.py)
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "django_htmx",
    "channels",
    "core",
    "organizations",
    "events",
    "money",
    "expenses",
    "accounting",
    "notifications",
    "audit",
    "access",
    "observability",
    "webhooks",
    "web",  # the pages: its ready() registers what they read with the session's user (web/apps.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "config.errors.ProductErrorPages",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "events.middleware.CorrelationIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "organizations.middleware.AuthenticationMiddleware",  # Django's, with the user read with the session
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Turns a locked-out log-in (any of them: web, admin, token) into core.lockout.lockout_response.
    "axes.middleware.AxesMiddleware",
]

# --- Observability (README: Observability) ----------------------------------------------------------
# /metrics answers only a bearer of this token, and is 404 without one; the HTTP and bus
# instruments count only while it is set, so an unset token costs nothing.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
if METRICS_TOKEN:
    MIDDLEWARE.insert(0, "observability.metrics.HttpMetricsMiddleware")
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["web.templatetags.formats"],  # {% money %} and {% day %} on every page
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "organizations.context_processors.membership",
                "web.context_processors.unread_notifications",
                "web.context_processors.delegations",
            ],
        },
    },
]

# Django's form renderer, with its plain inputs and selects written in Python (core/widgets.py)
FORM_RENDERER = "core.widgets.WidgetRenderer"

# --- Database -------------------------------------------------------------------------------
# `python -m config.embedded` sets DATABASE_URL when it starts the embedded server.
# DATABASE_POOL=1 (the web process: config/asgi.py turns it on) keeps a psycopg pool of open
# connections per process, handed to each request and taken back at its end. Without it an ASGI
# request pays for a new connection (CONN_MAX_AGE must be 0 there, see config/asgi.py). Workers
# and beat run one task at a time per process and keep one persistent connection instead.
DATABASE_POOL = os.environ.get("DATABASE_POOL", "0") == "1"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://outlay@127.0.0.1:5432/outlay"),
        conn_max_age=0 if DATABASE_POOL else int(os.environ.get("CONN_MAX_AGE", "600")),
        conn_health_checks=True,
    )
}
# A PostgreSQL that stops answering (a partition, a dead host: no RST, packets just vanish) must
# fail a request or a task within seconds, not hang it. libpq's connect timeout and TCP keepalives
# and user timeout bound the client's waits on a dead connection; the session settings bound a
# statement, a lock wait and a transaction left open, and make the *server* drop a connection
# whose client is gone (its keepalives, and the check while a query runs), releasing its locks.
# Measured by the cluster harness (tests/cluster, docs/deploy.md "Timeouts").
DATABASE_CONNECT_TIMEOUT = int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))
DATABASE_TCP_USER_TIMEOUT_MS = int(os.environ.get("DATABASE_TCP_USER_TIMEOUT_MS", "10000"))
DATABASE_STATEMENT_TIMEOUT_MS = int(os.environ.get("DATABASE_STATEMENT_TIMEOUT_MS", "30000"))
DATABASE_LOCK_TIMEOUT_MS = int(os.environ.get("DATABASE_LOCK_TIMEOUT_MS", "10000"))
DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS = int(os.environ.get("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", "60000"))
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options.update({
    "connect_timeout": DATABASE_CONNECT_TIMEOUT,
    "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
    "tcp_user_timeout": DATABASE_TCP_USER_TIMEOUT_MS,
})
# Outlay's own fixed statements are prepared once per connection (core.prepared); the ORM's
# queries never are (Django binds their values client-side). 0: prepared on their first run.
DATABASE_PREPARED_STATEMENTS = os.environ.get("DATABASE_PREPARED_STATEMENTS", "1") == "1"
if DATABASE_PREPARED_STATEMENTS:
    _db_options["prepare_threshold"] = 0
_db_options["options"] = " ".join(filter(None, [
    _db_options.get("options", ""),
    f"-c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}",
    f"-c lock_timeout={DATABASE_LOCK_TIMEOUT_MS}",
    f"-c idle_in_transaction_session_timeout={DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS}",
    "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3",
    f"-c tcp_user_timeout={DATABASE_TCP_USER_TIMEOUT_MS}",
    "-c client_connection_check_interval=5000",
]))
if DATABASE_POOL:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DATABASE_POOL_MIN_SIZE", "2")),
        "max_size": int(os.environ.get("DATABASE_POOL_MAX_SIZE", "16")),
        # A request waits this long for a free connection, then fails (503) instead of hanging.
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "10")),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# How many requests one web process runs at a time (config/asgi_handler.py); the rest wait on the
# event loop, first come first served, holding no thread and no database connection. Django's
# ASGI handler alone gives every request a thread at once: under load they all share one GIL and
# every one of them is slow (issue 24). 0: no limit.
WEB_REQUEST_CONCURRENCY = int(os.environ.get("WEB_REQUEST_CONCURRENCY", "4"))

# --- Redis: Celery broker and channel layer ---------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# At-least-once: a task is acknowledged after it ran, and re-queued if its worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message per worker process at a time: deliveries are short and acknowledged late, and a
# message reserved behind a busy process waited there while others idled (bench end to end,
# 8.6 approvals/s: last effect p50 360 ms with 4, 88 ms with 1; throughput the same).
CELERY_WORKER_PREFETCH_MULTIPLIER = int(os.environ.get("CELERY_PREFETCH", "1"))
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request must never hang on a dead broker: connect and publish time out fast, and the outbox
# sweeper re-sends whatever did not reach the broker.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "1"))
# Redis has no broker heartbeats (an AMQP feature; Celery's broker_heartbeat does nothing with
# Redis): a dead broker connection is found by the socket timeout, TCP keepalives and kombu's
# periodic health check instead, and the worker reconnects.
REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", "5"))
REDIS_KEEPALIVE = {socket.TCP_KEEPIDLE: 5, socket.TCP_KEEPINTVL: 2, socket.TCP_KEEPCNT: 3}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_keepalive": True,
    "socket_keepalive_options": REDIS_KEEPALIVE,
    "health_check_interval": 10,
    "visibility_timeout": 3600,
    "max_retries": 0,
}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")

OUTBOX_SWEEP_SECONDS = float(os.environ.get("OUTBOX_SWEEP_SECONDS", "2"))
OUTBOX_LEASE_SECONDS = int(os.environ.get("OUTBOX_LEASE_SECONDS", "60"))
OUTBOX_LEASE_MARGIN_SECONDS = float(os.environ.get("OUTBOX_LEASE_MARGIN_SECONDS", "5"))
OUTBOX_ORPHAN_SECONDS = float(os.environ.get("OUTBOX_ORPHAN_SECONDS", "3"))
OUTBOX_SWEEP_BATCH = int(os.environ.get("OUTBOX_SWEEP_BATCH", "500"))
OUTBOX_RETRY_BASE_SECONDS = float(os.environ.get("OUTBOX_RETRY_BASE_SECONDS", "2"))
OUTBOX_RETRY_CAP_SECONDS = float(os.environ.get("OUTBOX_RETRY_CAP_SECONDS", "600"))
OUTBOX_ATTEMPT_RETENTION_DAYS = int(os.environ.get("OUTBOX_ATTEMPT_RETENTION_DAYS", "30"))
OUTBOX_DELIVERY_RETENTION_DAYS = float(os.environ.get("OUTBOX_DELIVERY_RETENTION_DAYS", "30"))
OUTBOX_PRUNE_BATCH = int(os.environ.get("OUTBOX_PRUNE_BATCH", "5000"))  # deliveries one prune statement looks at
OUTBOX_PRUNE_PAUSE_SECONDS = float(os.environ.get("OUTBOX_PRUNE_PAUSE_SECONDS", "0.05"))
OUTBOX_BATCH_SIZE = int(os.environ.get("OUTBOX_BATCH_SIZE", "50"))  # deliveries one claim takes from a backlog
OUTBOX_BATCH_MAX = int(os.environ.get("OUTBOX_BATCH_MAX", "1000"))  # the most a drain's claim takes
OUTBOX_BATCH_TARGET_SECONDS = float(os.environ.get("OUTBOX_BATCH_TARGET_SECONDS", "0.15"))  # a drain batch's aim
OUTBOX_DRAIN_SECONDS = float(os.environ.get("OUTBOX_DRAIN_SECONDS", "1"))  # one drain task's time before it yields
OUTBOX_DRAIN_FLAG_SECONDS = float(os.environ.get("OUTBOX_DRAIN_FLAG_SECONDS", "10"))
OUTBOX_BACKFILL_BATCH = int(os.environ.get("OUTBOX_BACKFILL_BATCH", "5000"))
OUTBOX_BACKFILL_MAX_WAITING = int(os.environ.get("OUTBOX_BACKFILL_MAX_WAITING", "20000"))
OUTBOX_BACKFILL_PAUSE_SECONDS = float(os.environ.get("OUTBOX_BACKFILL_PAUSE_SECONDS", "0.5"))
# no live hint for the deliveries of an event older than this (a backfill, a late replay)
OUTBOX_HINT_MAX_AGE_SECONDS = float(os.environ.get("OUTBOX_HINT_MAX_AGE_SECONDS", "300"))
OUTBOX_ROLLUP_RETENTION_HOURS = int(os.environ.get("OUTBOX_ROLLUP_RETENTION_HOURS", "48"))
PAYOUT_RUN_SECONDS = float(os.environ.get("PAYOUT_RUN_SECONDS", "86400"))
APPROVER_DIGEST_HOUR = int(os.environ.get("APPROVER_DIGEST_HOUR", "8"))  # local hour from which digests go out
# Daily reference rates (ECB daily XML) fetched by beat; empty: no fetching (import_rates and finance still work).
EXCHANGE_RATES_URL = os.environ.get("EXCHANGE_RATES_URL", "")
EXCHANGE_RATES_FETCH_SECONDS = float(os.environ.get("EXCHANGE_RATES_FETCH_SECONDS", "3600"))
# DATEV export header: the tax adviser's and the client's numbers at DATEV.
DATEV_CONSULTANT_NUMBER = int(os.environ.get("DATEV_CONSULTANT_NUMBER", "1001"))
DATEV_CLIENT_NUMBER = int(os.environ.get("DATEV_CLIENT_NUMBER", "1"))
EXCHANGE_RATES_TIMEOUT_SECONDS = float(os.environ.get("EXCHANGE_RATES_TIMEOUT_SECONDS", "10"))

# --- Outbound webhooks (webhooks/; README "Webhooks") ------------------------------------------
WEBHOOK_QUEUE = "webhooks"
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", False)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "15"))
# Seconds before each try: the first at once, then like Svix (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
WEBHOOK_RETRY_SCHEDULE = [float(s) for s in env_list("WEBHOOK_RETRY_SCHEDULE", "0,5,300,1800,7200,18000,36000,36000")]
WEBHOOK_RETRY_JITTER = float(os.environ.get("WEBHOOK_RETRY_JITTER", "0.1"))  # +-10% of each delay
WEBHOOK_RETRY_AFTER_MAX_SECONDS = float(os.environ.get("WEBHOOK_RETRY_AFTER_MAX_SECONDS", "86400"))
WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT = int(os.environ.get("WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT", "4"))
WEBHOOK_BREAKER_THRESHOLD = int(os.environ.get("WEBHOOK_BREAKER_THRESHOLD", "10"))
WEBHOOK_BREAKER_COOLDOWN_SECONDS = float(os.environ.get("WEBHOOK_BREAKER_COOLDOWN_SECONDS", "60"))
WEBHOOK_DISABLE_AFTER_SECONDS = float(os.environ.get("WEBHOOK_DISABLE_AFTER_SECONDS", str(5 * 86400)))
WEBHOOK_SECRET_OVERLAP_SECONDS = float(os.environ.get("WEBHOOK_SECRET_OVERLAP_SECONDS", "86400"))
WEBHOOK_MAX_RESPONSE_BYTES = int(os.environ.get("WEBHOOK_MAX_RESPONSE_BYTES", "65536"))  # read at most
WEBHOOK_RESPONSE_KEEP_BYTES = 2048  # kept per attempt
WEBHOOK_SCHEDULE_SECONDS = float(os.environ.get("WEBHOOK_SCHEDULE_SECONDS", "1"))
WEBHOOK_SCHEDULE_BATCH = int(os.environ.get("WEBHOOK_SCHEDULE_BATCH", "500"))
WEBHOOK_LEASE_MARGIN_SECONDS = float(os.environ.get("WEBHOOK_LEASE_MARGIN_SECONDS", "5"))
# Encrypts the signing secrets at rest (Fernet); derived from SECRET_KEY unless set.
WEBHOOK_SECRETS_KEY = os.environ.get("WEBHOOK_SECRETS_KEY", "")

CELERY_BEAT_SCHEDULE = {
    # A sweep not started within a few intervals is dropped: the next one does its work.
    "outbox-sweep": {"task": "events.sweep", "schedule": OUTBOX_SWEEP_SECONDS,
                     "options": {"expires": max(5 * OUTBOX_SWEEP_SECONDS, 10.0)}},
    "outbox-prune-attempts": {"task": "events.prune_attempts", "schedule": 3600.0},
    "outbox-prune-deliveries": {"task": "events.prune_deliveries", "schedule": 3600.0,
                                "options": {"expires": 3000.0}},
    "purge-idempotency-keys": {"task": "core.purge_idempotency_keys", "schedule": 3600.0},
    # Checks every minute which organisations are due (PAYOUT_RUN_SECONDS since their last batch).
    "payout-runs": {"task": "accounting.run_payouts", "schedule": 60.0},
    "resend-due-emails": {"task": "notifications.resend_due_emails", "schedule": 30.0},
    # Checks every five minutes whose digest is due (local time past APPROVER_DIGEST_HOUR, none sent today).
    "approver-digests": {"task": "notifications.send_approver_digests", "schedule": 300.0},
    # The operations page's charts: one row per subscriber per minute (observability.rollup).
    "outbox-rollup": {"task": "observability.roll_up_outbox", "schedule": 60.0,
                      "options": {"expires": 55.0}},
    # Claims due webhooks (first tries, retries, expired leases); also kicked after each commit.
    "webhooks-schedule": {"task": "webhooks.schedule", "schedule": WEBHOOK_SCHEDULE_SECONDS,
                          "options": {"expires": max(5 * WEBHOOK_SCHEDULE_SECONDS, 5.0)}},
}
if EXCHANGE_RATES_URL:
    # Hourly by default: the ECB publishes once a working day (about 16:00 CET); a fetch is idempotent.
    CELERY_BEAT_SCHEDULE["fetch-exchange-rates"] = {"task": "money.fetch_rates",
                                                    "schedule": EXCHANGE_RATES_FETCH_SECONDS}

CHANNEL_LAYERS = {
    "default": {
        # Pub/sub is lossy by design: pushes are hints, the page re-reads the truth over HTTP.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        # A hint is never worth a hang: connect and socket timeouts as for the cache.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_connect_timeout": 1, "socket_timeout": 2,
                              "socket_keepalive": True, "socket_keepalive_options": REDIS_KEEPALIVE}]},
    }
}

# --- Auth, i18n, static, uploads ----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))
LOGIN_FAILURE_WINDOW = int(os.environ.get("LOGIN_FAILURE_WINDOW", "900"))
# django-axes (core/lockout.py): its backend refuses a locked-out account or address before the
# password is checked, for every caller of authenticate(): web log-in, admin log-in, API token.
# MemberModelBackend is ModelBackend whose get_user also reads the membership (one statement a
# page instead of three). Sessions made under ModelBackend's name log in again once.
SESSION_ENGINE = "organizations.sessions"  # database sessions, read with their user in one statement a page
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "organizations.authentication.MemberModelBackend",
]
AXES_HANDLER = "core.lockout.LockoutHandler"
AXES_FAILURE_LIMIT = "core.lockout.failure_limit"
AXES_COOLOFF_TIME = "core.lockout.window"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "core.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Attempts during a lock-out are refused and not counted: the end shown to the user holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # no row per successful log-in; failures are what we need
AXES_VERBOSE = False
# Addresses or networks of our reverse proxies. Only a request whose direct peer is one of them has
# its X-Forwarded-For (and, in production, X-Forwarded-Proto) believed (core/client_ip.py).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "static"
# WhiteNoise serves static files; without a collectstatic run (development, tests) it finds them
# where they live, like runserver does.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
MEDIA_URL = "media/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Bounded before anything is read (core/body_limit.py answers 413): an upload is one receipt of at
# most 10 MB and its form; no JSON body Outlay takes comes near 1 MB.
REQUEST_UPLOAD_MAX_BYTES = int(os.environ.get("REQUEST_UPLOAD_MAX_BYTES", str(10 * 1024 * 1024 + 64 * 1024)))
REQUEST_BODY_MAX_BYTES = int(os.environ.get("REQUEST_BODY_MAX_BYTES", str(1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES  # Django's own check (WSGI, tests): 413 too (config/errors.py)

# --- E-mail -------------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
OUTLAY_BASE_URL = os.environ.get("OUTLAY_BASE_URL", "http://127.0.0.1:8000")  # links in e-mails
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Outlay <outlay@localhost>")

# --- REST framework ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous caller then gets 401 with `WWW-Authenticate: Token` (not 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "organizations.authentication.MemberTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.DefaultCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    # The browsable API (?format=api) only in development; elsewhere JSON is all there is.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"] + (
        ["rest_framework.renderers.BrowsableAPIRenderer"] if OUTLAY_ENV == "development" and DEBUG else []),
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttles.AnonThrottle",
        "core.throttles.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "60/minute"),
        "user": os.environ.get("API_THROTTLE_USER", "1200/minute"),
    },
}
IDEMPOTENCY_TTL_HOURS = 24
IDEMPOTENCY_LOCK_SECONDS = 60
# Throttle counters must be shared by every web process: keep them in Redis.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "outlay",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1, "socket_keepalive": True,
                    "socket_keepalive_options": REDIS_KEEPALIVE},
    }
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Outlay API",
    "DESCRIPTION": "Expense approval with event-driven side effects.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "core.api.document_common_errors"],
    "ENUM_NAME_OVERRIDES": {
        "ExpenseStateEnum": "expenses.models.ExpenseState",
        "ReimbursementStateEnum": "accounting.models.ReimbursementState",
        "PayoutBatchStateEnum": "accounting.models.PayoutBatch.State",
        "DeliveryStatusEnum": "events.models.DeliveryStatus",
        "WebhookStatusEnum": "webhooks.models.WebhookStatus",
        "WebhookAttemptOutcomeEnum": "webhooks.models.WebhookAttempt.Outcome",
    },
    # /api/v1/health/ is a plain Django view (config.health.readyz, shared with /readyz), which the
    # generator cannot see: it is documented here, completely (the common-errors hook skips it).
    "APPEND_PATHS": {
        "/api/v1/health/": {"get": {
            "operationId": "health_retrieve", "tags": ["health"], "security": [{}],
            "description": "Readiness: the database and Redis answer, the worker and beat sent a recent "
                           "heartbeat. No authentication.",
            "responses": {
                code: {"description": text, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Health"}}}}
                for code, text in (("200", "Ready"), ("503", "Not ready: see which check failed"))},
        }},
    },
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "tokenAuth": {"type": "apiKey", "in": "header", "name": "Authorization",
                          "description": "`Token <key>` from POST /api/v1/auth/token/"},
        },
        "schemas": {
            "Health": {"type": "object", "required": ["status", "checks"], "properties": {
                "status": {"type": "string", "enum": ["ok", "fail"]},
                "checks": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "database, redis: \"ok\" or \"fail: <why>\"; worker, beat: "
                                          "\"ok\", \"down\" (no recent heartbeat: stopped or "
                                          "restarting) or \"fail: redis unreachable\""}}},
        },
    },
}

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "events.logging.CorrelationFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s "
            "correlation_id=%(correlation_id)s delivery_id=%(delivery_id)s event_id=%(event_id)s "
            "trace_id=%(trace_id)s",
        },
        # LOG_FORMAT=json: one JSON object per line (python-json-logger), the same fields by name.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s %(delivery_id)s "
                   "%(event_id)s %(trace_id)s %(span_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_FORMAT == "json" else "plain",
                    "filters": ["correlation"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per task received/succeeded every sweep is noise; failures still log.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.beat": {"level": "WARNING"},
    },
}

# --- Production hardening (what `check --deploy` asks for) --------------------------------------
if PRODUCTION:
    if TRUSTED_PROXIES:
        # Only behind our proxy: a client talking to us directly could otherwise claim https.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
