"""The one settings module. Everything that differs between machines comes from
environment variables read through :mod:`imaging_cds.env`; the README lists them.

With no variable set this is the embedded default: SQLite under ``var/``, the
local-memory cache, Celery tasks run in-process, DEBUG on.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from imaging_cds.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_optional_str,
    env_rate,
    env_str,
    parse_database_url,
    parse_redis_url,
)
from ordering.pacs.nodes import parse_pacs_nodes

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(
    env_str("VAR_DIR", str(BASE_DIR / "var"), "Folder for the SQLite file and runtime data.")
)

DEBUG = env_bool("DEBUG", True, "Django debug mode. Must be off in production.")
WARM_UP_ON_START = env_bool(
    "WARM_UP_ON_START",
    True,
    "Each web worker compiles the rule set and loads the text reader before serving.",
)

_secret = env_optional_str("SECRET_KEY", "Django secret key; required when DEBUG is off.")
if _secret is None:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Only ever used with DEBUG on, on a developer's machine.
    _secret = "insecure-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = _secret
PSEUDONYM_KEY = env_str(
    "PSEUDONYM_KEY",
    SECRET_KEY,
    "Key of the hash that pseudonymises patient ids; default SECRET_KEY.",
)

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [],
    "Comma-separated host names the app answers to.",
)
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", [], "Comma-separated origins (https://host) trusted for CSRF."
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_htmx",
    "template_partials",
    "imaging_cds",
    "guidelines",
    "scheduling",
    "ordering",
]

MIDDLEWARE = [
    # Outermost, and only under /cds-services: preflights are answered before anything
    # else, and every answer there (a 503 or 413 included) is readable cross-origin.
    "ordering.cds.cors.CdsHooksCorsMiddleware",
    # First: it turns a lost database, wherever it is met, into a 503 with Retry-After.
    "imaging_cds.middleware.DatabaseUnavailableMiddleware",
    "imaging_cds.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static assets (htmx included) are served by the app itself: hospital networks are closed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "imaging_cds.middleware.SessionIdleTimeoutMiddleware",
    "imaging_cds.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "imaging_cds.urls"
WSGI_APPLICATION = "imaging_cds.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "imaging_cds.roles.roles_context",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        "DATABASE_URL",
        env_str(
            "DATABASE_URL",
            f"sqlite:///{VAR_DIR / 'imaging_cds.sqlite3'}",
            "sqlite:///path or postgres://user:password@host:port/name.",
        ),
        BASE_DIR,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default must work from a fresh clone with no folder prepared.
    Path(str(DATABASES["default"]["NAME"])).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out user before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int(
    "LOGIN_FAILURE_LIMIT", 5, "Failed log-ins before an account is locked.", minimum=1
)
AXES_COOLOFF_TIME = (
    env_int(
        "LOGIN_LOCKOUT_MINUTES", 15, "How long a locked account stays locked, minutes.", minimum=1
    )
    / 60
)  # django-axes reads hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "imaging_cds/locked_out.html"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env_int(
    "SESSION_COOKIE_AGE", 8 * 3600, "Session lifetime in seconds.", minimum=60
)
# Shared ward workstations: closing the browser ends the session, and so does
# leaving it idle (imaging_cds.middleware.SessionIdleTimeoutMiddleware).
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_IDLE_SECONDS = env_int(
    "SESSION_IDLE_SECONDS", 30 * 60, "Idle time after which a session ends, seconds.", minimum=60
)
RETENTION_DAYS = env_int(
    "RETENTION_DAYS",
    3650,
    "Days consultations, orders and audit records are kept (manage.py retention_purge).",
    minimum=30,
)

# --- The signed order: its PDF, its e-mail to the patient, its booking page ----
ORDER_BOOKING_PAGE_DAYS = env_int(
    "ORDER_BOOKING_PAGE_DAYS",
    365,
    "Days after signing an order signed without a booking during which its booking page "
    "(QR code) answers.",
    minimum=1,
)
ORDER_PDF_FONT_DIR = env_str(
    "ORDER_PDF_FONT_DIR",
    "/usr/share/fonts/truetype/dejavu",
    "Folder holding DejaVuSans.ttf and DejaVuSans-Bold.ttf for the order's PDF "
    "(Debian: fonts-dejavu-core); missing, the PDF uses a core font.",
)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
    "Django e-mail backend that sends an order to a patient who asks for it.",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost", "SMTP server.")
EMAIL_PORT = env_int("EMAIL_PORT", 25, "SMTP port.", minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "", "SMTP user name.")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "", "SMTP password.")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False, "STARTTLS to the SMTP server.")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, "SMTP timeout, seconds.", minimum=1)
DEFAULT_FROM_EMAIL = env_str(
    "DEFAULT_FROM_EMAIL", "imaging-cds@localhost", "Sender of the e-mails the app sends."
)

# --- Internationalisation: French first, English too -------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Paris", "Time zone for display and schedules.")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Cache and Celery: Redis when REDIS_URL is set, in-process otherwise --------
_redis = env_optional_str(
    "REDIS_URL", "redis://host:port/db: cache and Celery broker. Absent: in-process."
)
REDIS_URL = parse_redis_url("REDIS_URL", _redis).url if _redis else None
_cache_prefix = env_str("CACHE_KEY_PREFIX", "icds", "Prefix of every cache key.")
_broker = env_optional_str("CELERY_BROKER_URL", "Celery broker URL; default REDIS_URL.")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": _cache_prefix,
            "TIMEOUT": 300,
            # A dead Redis must fail fast so the page can degrade, not hang.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CELERY_BROKER_URL = parse_redis_url("CELERY_BROKER_URL", _broker).url if _broker else REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "imaging-cds",
        }
    }
    CELERY_BROKER_URL = "memory://"
    # The embedded default has no broker: tasks run in the calling process.
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_SOFT_TIME_LIMIT = env_int(
    "CELERY_TASK_SOFT_TIME_LIMIT", 60, "Soft time limit of a task, seconds.", minimum=1
)
CELERY_TASK_TIME_LIMIT = env_int(
    "CELERY_TASK_TIME_LIMIT", 90, "Hard time limit of a task, seconds.", minimum=1
)
# A worker killed mid-task must not lose the task: acknowledge only once done.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
AVAILABILITY_REFRESH_SECONDS = env_int(
    "AVAILABILITY_REFRESH_SECONDS",
    30,
    "How often beat looks for availability feeds that are due (each has its own interval).",
    minimum=5,
)
AVAILABILITY_HORIZON_DAYS = env_int(
    "AVAILABILITY_HORIZON_DAYS", 30, "How many days ahead slots are read and offered.", minimum=1
)
AVAILABILITY_FEED_TIMEOUT_SECONDS = env_float(
    "AVAILABILITY_FEED_TIMEOUT_SECONDS",
    10.0,
    "Connect and read timeout of one HTTP request to a centre's FHIR server.",
    minimum=0.1,
)
AVAILABILITY_FEED_BUDGET_SECONDS = env_float(
    "AVAILABILITY_FEED_BUDGET_SECONDS",
    45.0,
    "Total time allowed to read every page of one feed (keep under the task soft limit).",
    minimum=1.0,
)
AVAILABILITY_FEED_MAX_PAGE_BYTES = env_int(
    "AVAILABILITY_FEED_MAX_PAGE_BYTES",
    5_000_000,
    "Largest FHIR Bundle page read from a feed, bytes; a larger one fails that feed.",
    minimum=1024,
)
AVAILABILITY_FEED_MAX_PAGES = env_int(
    "AVAILABILITY_FEED_MAX_PAGES", 100, "Most Bundle pages read from one feed.", minimum=1
)
FEED_ALLOWED_HOSTS = env_list(
    "FEED_ALLOWED_HOSTS",
    [],
    "Hosts (name or name:port) whose feeds may be read although they are loopback or on a "
    "private network; plain http is allowed outside DEBUG only to a listed loopback host.",
)
AVAILABILITY_MAX_BACKOFF_SECONDS = env_int(
    "AVAILABILITY_MAX_BACKOFF_SECONDS",
    3600,
    "Longest wait before retrying a failing feed (the wait doubles per failure).",
    minimum=30,
)
AVAILABILITY_CACHE_SLOTS_PER_EQUIPMENT = env_int(
    "AVAILABILITY_CACHE_SLOTS_PER_EQUIPMENT",
    40,
    "How many next free slots the cache keeps per machine.",
    minimum=1,
)
SLOT_HOLD_SECONDS = env_int(
    "SLOT_HOLD_SECONDS",
    600,
    "How long a slot stays held while the prescriber confirms, seconds.",
    minimum=30,
)
HOLDS_RELEASE_SECONDS = env_int(
    "HOLDS_RELEASE_SECONDS", 60, "How often beat releases expired slot holds, seconds.", minimum=5
)
# --- Outbox: orders to the centres' RIS (HL7 v2 over MLLP) ---------------------
HL7_SENDING_FACILITY = env_str(
    "HL7_SENDING_FACILITY", "IMAGINGCDS", "MSH-4 of the HL7 messages sent to the RIS."
)
OUTBOX_DISPATCH_SECONDS = env_int(
    "OUTBOX_DISPATCH_SECONDS", 30, "How often beat looks for outbound messages due.", minimum=5
)
OUTBOX_RETRY_BASE_SECONDS = env_float(
    "OUTBOX_RETRY_BASE_SECONDS", 30.0, "Wait before the first retry; doubled each time."
)
OUTBOX_RETRY_MAX_SECONDS = env_float(
    "OUTBOX_RETRY_MAX_SECONDS", 3600.0, "Longest wait between two delivery attempts."
)
OUTBOX_MAX_ATTEMPTS = env_int(
    "OUTBOX_MAX_ATTEMPTS", 12, "Attempts before a message is marked failed.", minimum=1
)
MLLP_CONNECT_TIMEOUT = env_float(
    "MLLP_CONNECT_TIMEOUT", 5.0, "Seconds to connect to a RIS (and finish TLS)."
)
MLLP_ANSWER_TIMEOUT = env_float(
    "MLLP_ANSWER_TIMEOUT", 15.0, "Seconds a RIS has to send its whole ACK."
)
MLLP_MAX_ANSWER_BYTES = env_int(
    "MLLP_MAX_ANSWER_BYTES", 65536, "Largest ACK read from a RIS, bytes.", minimum=256
)

# A task whose worker died unacknowledged goes back to the queue after this long.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int(
        "CELERY_VISIBILITY_TIMEOUT",
        3600,
        "Seconds before a task taken by a worker that died is delivered again.",
        minimum=10,
    )
}
CELERY_BEAT_SCHEDULE = {
    # One tick dispatches one task per feed that is due: a slow feed delays no other.
    "availability-dispatch": {
        "task": "scheduling.tasks.availability_dispatch_due",
        "schedule": float(AVAILABILITY_REFRESH_SECONDS),
    },
    "holds-release-expired": {
        "task": "scheduling.tasks.holds_release_expired",
        "schedule": float(HOLDS_RELEASE_SECONDS),
    },
    # CDS Hooks tokens live minutes: their jti rows are forgotten once they expire.
    "used-jwt-ids-purge": {
        "task": "ordering.tasks.used_jwt_ids_purge_expired",
        "schedule": 300.0,
    },
    # The outbox's safety net: signing enqueues its centre's delivery at once; this
    # tick picks up whatever a dead worker or a lost task left due.
    "outbox-dispatch": {
        "task": "ordering.tasks.outbox_dispatch_due",
        "schedule": float(OUTBOX_DISPATCH_SECONDS),
    },
}

# --- PACS (prior-exam lookup) -------------------------------------------------
PACS_HOST = env_str("PACS_HOST", "127.0.0.1", "PACS host for C-FIND / C-ECHO.")
PACS_PORT = env_int("PACS_PORT", 11112, "PACS DICOM port.", minimum=1)
PACS_CALLED_AET = env_str("PACS_CALLED_AET", "DEMOPACS", "AE title of the PACS.")
PACS_CALLING_AET = env_str("PACS_CALLING_AET", "IMAGINGCDS", "Our AE title.")
PACS_TIMEOUT_SECONDS = env_float(
    "PACS_TIMEOUT_SECONDS", 2.0, "Total time budget of one PACS lookup, seconds.", minimum=0.1
)
PACS_BREAKER_SECONDS = env_int(
    "PACS_BREAKER_SECONDS",
    30,
    "After a PACS node is found down, seconds before it is asked again (0: always ask).",
    minimum=0,
)
PATIENT_ISSUER_INS = env_str(
    "PATIENT_ISSUER_INS",
    "",
    "IssuerOfPatientID the PACS records for INS identifiers (empty: match on the id alone).",
)
PATIENT_ISSUER_LOCAL = env_str(
    "PATIENT_ISSUER_LOCAL",
    "IMAGING-CDS-DEMO",
    "IssuerOfPatientID of local identifiers (the demo PACS uses IMAGING-CDS-DEMO).",
)
PACS_REQUIRED = env_bool(
    "PACS_REQUIRED", False, "Whether /healthz answers 503 when the PACS does not echo."
)
PACS_MAX_ANSWERS = env_int(
    "PACS_MAX_ANSWERS",
    0,
    "Answers the default PACS is known to stop at (its cap); 0 if unknown.",
    minimum=0,
)
PACS_NODES = parse_pacs_nodes(
    "PACS_NODES",
    env_optional_str(
        "PACS_NODES", "JSON list of PACS nodes to query (replaces the single PACS_* node)."
    ),
    calling_aet=PACS_CALLING_AET,
    timeout=PACS_TIMEOUT_SECONDS,
)
PACS_CACHE_SECONDS = env_int(
    "PACS_CACHE_SECONDS",
    600,
    "How long a patient's prior exams stay cached; 0: no cache.",
    minimum=0,
)
PACS_LOOKBACK_DAYS = env_int(
    "PACS_LOOKBACK_DAYS", 5 * 365, "How far back the prior-exam lookup asks, days.", minimum=1
)

# --- REST framework ------------------------------------------------------------
API_RATE_LIMIT = env_rate(
    "API_RATE_LIMIT", "300/min", "Requests allowed per API client, e.g. 300/min or 10/s."
)
CDS_RATE_LIMIT = env_rate(
    "CDS_RATE_LIMIT",
    "600/min",
    "CDS Hooks calls (services and feedback) allowed per EHR client, e.g. 600/min.",
)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["ordering.api.permissions.IsApiClient"],
    "DEFAULT_THROTTLE_CLASSES": ["ordering.api.throttling.CacheSafeUserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": API_RATE_LIMIT},
    # EHRs send JSON; form and multipart bodies are refused with 415.
    # Nesting depth is checked before json.loads, which would recurse into a 500.
    "DEFAULT_PARSER_CLASSES": ["ordering.api.parsers.GuardedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "ordering.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ordering.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "imaging-cds API",
    "DESCRIPTION": "Imaging decision support: indications, procedures, evaluation, slots, orders.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The same choices appear in the patient of evaluate and in an order's patient.
    "ENUM_NAME_OVERRIDES": {
        "IdentifierKindEnum": ["ins", "local"],
        "SexEnum": ["F", "M", "U"],
    },
}
# --- EHR: CDS Hooks and FHIR ----------------------------------------------------
FHIR_EXTENSION_BASE = env_str(
    "FHIR_EXTENSION_BASE",
    "https://imaging-cds.example/fhir",
    "Base of our FHIR extension and code system URLs (no trailing slash).",
).rstrip("/")
CDS_FLOOR_ENDPOINT = env_bool(
    "CDS_FLOOR_ENDPOINT",
    False,
    "Serve POST /cds-floor, the benchmark's floor for the hooks' speed (bench only).",
)
CDS_FHIR_TIMEOUT_SECONDS = env_float(
    "CDS_FHIR_TIMEOUT_SECONDS",
    1.5,
    "Time budget for fetching missing prefetch data from the EHR's FHIR server, seconds.",
    minimum=0.1,
)
CDS_JWKS_CACHE_SECONDS = env_int(
    "CDS_JWKS_CACHE_SECONDS",
    300,
    "How long a JWKS fetched from an EHR client's jwks_url is kept, seconds.",
    minimum=1,
)
CDS_JWKS_REFETCH_SECONDS = env_int(
    "CDS_JWKS_REFETCH_SECONDS",
    30,
    "Least interval between two refetches of one JWKS for an unknown kid, seconds.",
    minimum=1,
)
CDS_INS_SYSTEMS = env_list(
    "CDS_INS_SYSTEMS",
    ["urn:oid:1.2.250.1.213.1.4.8"],
    "Patient.identifier systems read as the INS (default: INS-NIR's OID).",
)

# Request bodies above this are refused with 413 before anything parses them.
MAX_REQUEST_BODY_BYTES = env_int(
    "MAX_REQUEST_BODY_BYTES", 8_000_000, "Largest request body accepted, bytes.", minimum=1024
)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

# --- Security when not in debug -------------------------------------------------
_hsts = env_int("SECURE_HSTS_SECONDS", 31536000, "HSTS max-age when DEBUG is off.", minimum=0)
_ssl_redirect = env_bool("SECURE_SSL_REDIRECT", True, "Redirect HTTP to HTTPS when DEBUG is off.")
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = _hsts
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = _ssl_redirect
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
# No inline script anywhere: htmx and every asset come from our own origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
# Error reports with DEBUG off show neither POST values nor local variables.
DEFAULT_EXCEPTION_REPORTER_FILTER = "imaging_cds.error_reports.PatientSafeReporterFilter"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOG_LEVEL = env_str("LOG_LEVEL", "INFO", "Log level of the app's loggers.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"capability_paths": {"()": "imaging_cds.logfilters.CapabilityPathFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["capability_paths"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        **{
            name: {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}
            for name in ("imaging_cds", "guidelines", "scheduling", "ordering")
        },
        # pynetdicom logs every C-FIND identifier, patient id included, at INFO and
        # DEBUG: patient identifiers must never reach a log, whatever LOG_LEVEL says.
        "pynetdicom": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
