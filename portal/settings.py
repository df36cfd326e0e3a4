"""Settings for the billing portal, read from the environment only.

Every value comes from an environment variable (see the table in README.md). The defaults
make a first run work on one machine: a SQLite file under var/, tasks run in-process, and
emails written to files under var/mail/. Production sets DATABASE_URL, REDIS_URL, EMAIL_URL,
SECRET_KEY and ALLOWED_HOSTS.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import django_stubs_ext
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

from portal.environment import Env

# Lets generic Django classes be subscripted at run time (QuerySet[Invoice], ModelAdmin[X]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = Env()

# Local settings from a file: `make run` writes .env (DEBUG on, a generated SECRET_KEY) when
# there is none, so that `uv run python manage.py …` works as the README says. Read only when
# the file exists; a variable set in the real environment always wins (read_env never
# overwrites). The test suite never reads it (pytest sets PYTEST_VERSION, which its
# subprocesses inherit): the tests set their own environment, and a developer's DEBUG=1 would
# change the production defaults they check. ENV_FILE names another file ("" reads none).
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file() and "PYTEST_VERSION" not in env.ENVIRON:
    Env.read_env(ENV_FILE)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for a local run)."
        )
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The public address of the portal, used in links that leave the request (emails).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_countries",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "portal",
    "accounts",
    "invoices",
    "payments",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Staff sign in to the admin with a second factor (TOTP).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # A user with a second factor (or whose account requires one) gives it before any page.
    "accounts.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "payments.middleware.CardDataGuardMiddleware",
    # Last, so that it sees the outcome of the authentication views it guards.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.current_account",
            ],
        },
    },
]

# Database: a SQLite file for a first run, PostgreSQL in tests and production.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, tasks) share the file on a first run; wait for each other.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Users sign in by email.
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First, so that a locked-out client is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
# An owner's invitation to join the account works once, for this many days.
INVITATION_DAYS = env.int("INVITATION_DAYS", default=7)

# The reverse proxies in front of the portal, each appending to X-Forwarded-For: the client's
# address is the TRUSTED_PROXY_COUNT-th entry from the right (0: REMOTE_ADDR, the header
# ignored). Every per-address throttle reads it through accounts.client_address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT failed attempts for the same
# email from the same address, that pair is refused for AXES_COOLOFF_MINUTES. The email is
# counted by its sign-in key (any letter case or spaces count as one address), the address
# is the client's behind the trusted proxies.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.sign_in.lockout_username"
AXES_CLIENT_IP_CALLABLE = "accounts.client_address.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password"]

SESSION_COOKIE_AGE = 60 * 60 * 12
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Billing portal")

# Internationalisation: English and Simplified Chinese everywhere.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("zh-hans", _("Simplified Chinese")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date and one date-time format per language (portal/formats/).
FORMAT_MODULE_PATH = ["portal.formats"]
USE_I18N = True
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_TZ = True

# Static files: vendored under static/, served by whitenoise; nothing from a CDN.
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}


# Email: EMAIL_URL (smtp://, smtp+tls://, smtps://, consolemail://); without it each message is
# written to a file under var/mail/ so that a first-time user can read it.
def _mailer(url: str) -> dict[str, object]:
    if not url:
        return {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": VAR_DIR / "mail"},
        }
    parsed = env.email_url_config(url)
    backend = parsed["EMAIL_BACKEND"]
    if backend != "django.core.mail.backends.smtp.EmailBackend":
        return {"BACKEND": backend}
    return {
        "BACKEND": backend,
        "OPTIONS": {
            "host": parsed["EMAIL_HOST"],
            "port": parsed["EMAIL_PORT"],
            "username": parsed["EMAIL_HOST_USER"],
            "password": parsed["EMAIL_HOST_PASSWORD"],
            "use_tls": parsed.get("EMAIL_USE_TLS", False),
            "use_ssl": parsed.get("EMAIL_USE_SSL", False),
            "timeout": env.int("EMAIL_TIMEOUT", default=20),
        },
    }


MAILERS = {"default": _mailer(env.str("EMAIL_URL", default=""))}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="billing@example.com")
# A failing email is retried with a growing delay (30 s, 1 min, 2 min, 4 min, then every
# TASK_RETRY_MAX_DELAY): about four hours of retries before it is marked failed.
EMAIL_MAX_RETRIES = env.int("EMAIL_MAX_RETRIES", default=50)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery on Redis. Without REDIS_URL, tasks run in-process (eagerly) after the commit that
# enqueued them, so a first run needs no broker.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=200)
# A worker process is replaced after a task that left it above this resident size (KiB).
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=700_000)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task a worker took and never acknowledged (the worker was killed, its machine lost) is
# handed to another worker this many seconds after it was taken. It must be longer than any
# task runs, plus any delay a task waits for its retry (TASK_RETRY_MAX_DELAY), or a task still
# running or waiting would be handed out twice; `manage.py check` says so (portal.E001/E002).
BROKER_VISIBILITY_TIMEOUT = env.int("BROKER_VISIBILITY_TIMEOUT", default=600)
# The longest a failed task waits for its next try (every retry delay is capped by it).
TASK_RETRY_MAX_DELAY = env.int("TASK_RETRY_MAX_DELAY", default=300)
BROKER_TIMEOUT_SECONDS = env.float("BROKER_TIMEOUT_SECONDS", default=0.5)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
    # Every worker looks for tasks past their visibility timeout this often (a tenth of the
    # timeout, at most 10 s), so a lost task is running again soon after its timeout.
    "unacked_restore_interval": max(1, min(10, BROKER_VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1,
    # A request never waits long on a broker that is down: a send gives up after about
    # BROKER_TIMEOUT_SECONDS per try (connecting, then each read) and one retry, and the task
    # is left to the sweeps (see portal/celery.py).
    "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
    "socket_timeout": BROKER_TIMEOUT_SECONDS,
}
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Three queues, so that money work never waits behind documents: "money" (the billing run
# and its chunks, charges, settling lost answers, card verification, refunds), "emails" and
# "pdfs". A task of no app (none today) goes to "default". `make worker` consumes them all;
# docker-compose.yml runs one worker for "money" and one for the rest.
TASK_QUEUES = ("money", "emails", "pdfs", "default")
# Each queue with an exchange and routing key of its own (not all bound to the default
# exchange under one key), so that a message sent by routing key reaches one queue only.
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in TASK_QUEUES]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "billing.*": {"queue": "money"},
    "payments.*": {"queue": "money"},
    "accounts.*": {"queue": "emails"},
    "invoices.*": {"queue": "pdfs"},
}
# Periodic jobs; each feature adds its entry here.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "billing-run": {
        # The day's billing: expired cards marked, New and Recurring invoices issued and
        # charged to the card on file, dunning retries, late fees. Safe to run again.
        "task": "billing.billing_run",
        "schedule": crontab(hour=2, minute=0),
    },
    "billing-autocharges-due": {
        # Automatic charges whose retry is due (a processing error is retried within hours).
        "task": "billing.autocharges_due",
        "schedule": crontab(minute=20),
    },
    "billing-confirmations": {
        # Automatic charges the bank asked the customer to confirm: reminders, deadlines.
        "task": "billing.autocharges_confirmation_sweep",
        "schedule": crontab(minute=40),
    },
    "accounts-outbox-sweep": {
        # Emails due whose send was lost (Redis down or emptied): sent again.
        "task": "accounts.outbox_sweep",
        "schedule": crontab(minute="*/5"),
    },
    "payments-verify-stuck": {
        # Cards still verifying CARD_VERIFY_STUCK_MINUTES after being added: verified again.
        "task": "payments.payment_methods_redrive",
        "schedule": crontab(minute="*/5"),
    },
    "payments-approval-promise": {
        # Escalates cards undecided after CARD_ESCALATE_AFTER_HOURS, records a missed promise.
        "task": "payments.payment_methods_check_promise",
        "schedule": crontab(minute="*/10"),
    },
    "payments-settle": {
        # Asks the gateways what became of unanswered charges and approved PayPal orders.
        "task": "payments.payments_settle",
        "schedule": crontab(minute="*"),
    },
    "accounts-tax-ids-recheck": {
        # EU VAT numbers VIES could not confirm when given (VIES down): asked again.
        "task": "accounts.tax_ids_recheck",
        "schedule": crontab(minute=50),
    },
    "invoices-documents-missing": {
        "task": "invoices.invoice_documents_missing",
        "schedule": crontab(minute="*/15"),
    },
}

# Invoices: numbering, payment terms, and the seller printed on every invoice.
INVOICE_NUMBER_PREFIX = env.str("INVOICE_NUMBER_PREFIX", default="INV-")
INVOICE_NUMBER_DIGITS = env.int("INVOICE_NUMBER_DIGITS", default=6)
# Receipts are numbered by their payment, with the invoices' number of digits.
RECEIPT_NUMBER_PREFIX = env.str("RECEIPT_NUMBER_PREFIX", default="RCPT-")
INVOICE_PAYMENT_TERMS_DAYS = env.int("INVOICE_PAYMENT_TERMS_DAYS", default=30)
INVOICES_PER_PAGE = env.int("INVOICES_PER_PAGE", default=25)
# Account > Activity: entries per page.
ACTIVITY_PER_PAGE = env.int("ACTIVITY_PER_PAGE", default=25)
SELLER_NAME = env.str("SELLER_NAME", default="Example Hosting Ltd")
SELLER_ADDRESS = env.str(
    "SELLER_ADDRESS", default="1 Datacenter Way\nDallas TX 75201\nUnited States"
).replace("\\n", "\n")
# The seller's tax data (README "Taxes"): its country (ISO 3166, decides which tax rules
# apply), its VAT number (SELLER_TAX_ID is the former name), its other registrations (one per
# line, e.g. "GB: GB123456789"), whether it declares EU distance sales through the One-Stop
# Shop, whether those sales are above the EUR 10,000 a year threshold (Article 59c of
# Directive 2006/112/EC), and the legal mentions printed on every invoice (one per line).
SELLER_COUNTRY = env.str("SELLER_COUNTRY", default="US").upper()
SELLER_VAT_ID = env.str("SELLER_VAT_ID", default=env.str("SELLER_TAX_ID", default=""))
SELLER_TAX_ID = SELLER_VAT_ID
SELLER_OTHER_TAX_IDS = env.str("SELLER_OTHER_TAX_IDS", default="").replace("\\n", "\n")
SELLER_USES_OSS = env.bool("SELLER_USES_OSS", default=False)
SELLER_EU_DISTANCE_SALES_ABOVE_THRESHOLD = env.bool(
    "SELLER_EU_DISTANCE_SALES_ABOVE_THRESHOLD", default=False
)
SELLER_LEGAL_MENTIONS = env.str("SELLER_LEGAL_MENTIONS", default="").replace("\\n", "\n")

# VIES (the EU's VAT number check): off by default, since it needs the internet. VIES_URL is
# the base of its REST API (check-vat-number is posted there); an answer slower than
# VIES_TIMEOUT seconds counts as VIES being down: the number is kept "not yet confirmed"
# and checked again every hour.
VIES_CHECK = env.bool("VIES_CHECK", default=False)
VIES_URL = env.str("VIES_URL", default="https://ec.europa.eu/taxation_customs/vies/rest-api")
VIES_TIMEOUT = env.float("VIES_TIMEOUT", default=5.0)

# Cards: which gateway adapter runs (a short name or the dotted path of an adapter class, see
# payments/gateways/), the card-testing defence and the approval promise.
CARD_GATEWAY = env.str("CARD_GATEWAY", default="sandbox")
# What card testing looks like, counted in the last hour for an account, a user and a client
# address: card attempts declined (or not answered yet), and different cards tried. Successful
# payments and cards that pass the gateway's check are not counted. CARD_ATTEMPTS_PER_HOUR is
# the former name of the first.
CARD_DECLINES_PER_HOUR = env.int(
    "CARD_DECLINES_PER_HOUR", default=env.int("CARD_ATTEMPTS_PER_HOUR", default=5)
)
CARD_DISTINCT_PER_HOUR = env.int("CARD_DISTINCT_PER_HOUR", default=5)
CARD_NEW_PER_WINDOW = env.int("CARD_NEW_PER_WINDOW", default=3)
CARD_NEW_WINDOW_DAYS = env.int("CARD_NEW_WINDOW_DAYS", default=30)
CARD_VERIFY_MAX_RETRIES = env.int("CARD_VERIFY_MAX_RETRIES", default=7)
# A card still verifying this long after it was added (or last tried) lost its verification
# task; the sweep sends it again (the same idempotency key: verified once).
CARD_VERIFY_STUCK_MINUTES = env.int("CARD_VERIFY_STUCK_MINUTES", default=5)
CARD_ESCALATE_AFTER_HOURS = env.int("CARD_ESCALATE_AFTER_HOURS", default=20)
CARD_PROMISE_HOURS = env.int("CARD_PROMISE_HOURS", default=24)
CARD_EXPIRY_WARNING_DAYS = env.int("CARD_EXPIRY_WARNING_DAYS", default=30)

# Stripe (CARD_GATEWAY=stripe): the keys of the Stripe account, the secret of the webhook
# endpoint (SITE_URL + /payments/stripe/webhook/), and the API version the portal is built
# for (never the account's default). STRIPE_API_BASE and STRIPE_JS_URL point elsewhere only
# in the tests (a Stripe-compatible server).
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
STRIPE_API_VERSION = "2026-10-28.endive"
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
# An automatic charge the bank asks the customer to confirm waits this long for them.
STRIPE_CONFIRMATION_DAYS = env.int("STRIPE_CONFIRMATION_DAYS", default=7)
if CARD_GATEWAY == "stripe" and not (STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY):
    raise ImproperlyConfigured(
        "CARD_GATEWAY=stripe needs STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY."
    )

# PayPal: the sandbox's approval page unless PayPal REST credentials are given, in which case
# the Orders v2 API at PAYPAL_API_URL (PayPal's own sandbox by default; the live API is
# https://api-m.paypal.com). PAYPAL_WEBHOOK_ID is the id PayPal gave the portal's webhook.
PAYPAL_CLIENT_ID = env.str("PAYPAL_CLIENT_ID", default="")
PAYPAL_CLIENT_SECRET = env.str("PAYPAL_CLIENT_SECRET", default="")
PAYPAL_WEBHOOK_ID = env.str("PAYPAL_WEBHOOK_ID", default="")
PAYPAL_API_URL = env.str("PAYPAL_API_URL", default="https://api-m.sandbox.paypal.com")
PAYPAL_TIMEOUT_SECONDS = env.float("PAYPAL_TIMEOUT_SECONDS", default=15.0)
PAYPAL_GATEWAY = env.str("PAYPAL_GATEWAY", default="paypal" if PAYPAL_CLIENT_ID else "sandbox")
if PAYPAL_GATEWAY == "paypal" and not (PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "PAYPAL_GATEWAY=paypal needs PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET."
    )

# The sandbox processor (the app `sandbox_gateway`, which plays a card processor and PayPal
# under /sandbox-gateway/) is installed only when one of its adapters is configured.
SANDBOX_GATEWAY = any(
    name == "sandbox" or name.startswith("payments.gateways.sandbox.")
    for name in (CARD_GATEWAY, PAYPAL_GATEWAY)
)
if SANDBOX_GATEWAY:
    INSTALLED_APPS.append("sandbox_gateway")
# How long the sandbox processor takes to answer, e.g. "lognormal:median=400ms,p99=3s" (see
# sandbox_gateway/latency.py); empty: at once (the default, and the test suite's).
# A bad value stops the start (sandbox_gateway/apps.py).
SANDBOX_LATENCY = env.str("SANDBOX_LATENCY", default="")

# What the card processor allows: at most this many requests a second from every worker on
# every host together (a token bucket in Redis, payments/rate_limit.py); 0: no limit. Stripe
# allows 100 in live mode and 25 in test mode. A call waits for its turn up to
# GATEWAY_RATE_LIMIT_WAIT_SECONDS (Redis down included), then is not made: it failed before
# reaching the gateway, and is tried again as any unreached call is.
GATEWAY_MAX_REQUESTS_PER_SECOND = env.float("GATEWAY_MAX_REQUESTS_PER_SECOND", default=0.0)
GATEWAY_RATE_LIMIT_WAIT_SECONDS = env.float("GATEWAY_RATE_LIMIT_WAIT_SECONDS", default=60.0)
# The share of the limit left unused: turns are handed out at (1 - headroom) x the limit, so
# that calls which leave a few milliseconds late (a thread waking up, the network) still
# reach the processor at most the limit in any second.
GATEWAY_RATE_LIMIT_HEADROOM = env.float("GATEWAY_RATE_LIMIT_HEADROOM", default=0.05)
if (
    GATEWAY_MAX_REQUESTS_PER_SECOND < 0
    or GATEWAY_RATE_LIMIT_WAIT_SECONDS <= 0
    or not 0 <= GATEWAY_RATE_LIMIT_HEADROOM < 1
):
    raise ImproperlyConfigured(
        "GATEWAY_MAX_REQUESTS_PER_SECOND must be 0 (no limit) or more, "
        "GATEWAY_RATE_LIMIT_WAIT_SECONDS more than 0, and GATEWAY_RATE_LIMIT_HEADROOM "
        "from 0 up to (not including) 1."
    )
if GATEWAY_MAX_REQUESTS_PER_SECOND and not REDIS_URL:
    raise ImproperlyConfigured(
        "GATEWAY_MAX_REQUESTS_PER_SECOND is shared by every worker through Redis: set REDIS_URL."
    )

# One-time payments: how long an unanswered gateway call waits before it is looked up, and
# how long a PayPal order may wait for the customer's approval before it is given up.
PAYMENT_SETTLE_AFTER_SECONDS = env.int("PAYMENT_SETTLE_AFTER_SECONDS", default=60)
PAYMENT_PAYPAL_APPROVAL_HOURS = env.int("PAYMENT_PAYPAL_APPROVAL_HOURS", default=3)
# A one-time card payment the customer started confirming with the bank (3-D Secure) and
# never finished is given up, and the processor's intent canceled, after this long.
PAYMENT_CARD_CONFIRMATION_MINUTES = env.int("PAYMENT_CARD_CONFIRMATION_MINUTES", default=60)
PAYMENTS_PER_PAGE = env.int("PAYMENTS_PER_PAGE", default=20)

# The monthly cycle: a declined automatic charge is tried again this many days after the first
# decline; a processing error (nothing was declined) is tried again sooner, a few times.
DUNNING_RETRY_DAYS = env.list("DUNNING_RETRY_DAYS", cast=int, default=[1, 3, 7])
if any(d <= 0 for d in DUNNING_RETRY_DAYS) or sorted(set(DUNNING_RETRY_DAYS)) != DUNNING_RETRY_DAYS:
    raise ImproperlyConfigured(
        "DUNNING_RETRY_DAYS must be increasing days after the first decline."
    )
DUNNING_PROCESSING_RETRY_MINUTES = env.int("DUNNING_PROCESSING_RETRY_MINUTES", default=60)
DUNNING_PROCESSING_RETRIES = env.int("DUNNING_PROCESSING_RETRIES", default=3)
# Late fees: an invoice still unpaid LATE_FEE_GRACE_DAYS after its due date gets a One-time
# invoice of LATE_FEE_PERCENT of what it owes plus LATE_FEE_FIXED (per currency, e.g.
# "USD=5.00,EUR=5.00"), and again every LATE_FEE_EVERY_DAYS while unpaid (0: only once).
LATE_FEE_GRACE_DAYS = env.int("LATE_FEE_GRACE_DAYS", default=15)
LATE_FEE_PERCENT = env.decimal("LATE_FEE_PERCENT", default=Decimal("1.5"))
LATE_FEE_FIXED = env.decimal_dict("LATE_FEE_FIXED")
LATE_FEE_EVERY_DAYS = env.int("LATE_FEE_EVERY_DAYS", default=30)
# The daily billing run fans out to the workers in chunks of this many accounts. A chunk's
# charges are in flight together while its next invoices are issued, and it ends when its
# slowest charge is answered (up to 3 s at a real processor): large chunks keep the workers
# waiting on that tail rarely. `manage.py check` keeps a chunk within the visibility timeout
# (portal.E002).
BILLING_CHUNK_SIZE = env.int("BILLING_CHUNK_SIZE", default=1000)
# How many charges of a chunk a worker process has in flight at once (threads, each with its
# own database connection); 1 charges one after the other.
BILLING_CHARGE_CONCURRENCY = env.int("BILLING_CHARGE_CONCURRENCY", default=40)
if BILLING_CHUNK_SIZE < 1 or BILLING_CHARGE_CONCURRENCY < 1:
    raise ImproperlyConfigured(
        "BILLING_CHUNK_SIZE and BILLING_CHARGE_CONCURRENCY must be 1 or more."
    )

CACHES = {
    "default": (
        env.cache_url("CACHE_URL")
        if env.str("CACHE_URL", default="")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Security. The defaults are the production ones; a local run over http sets DEBUG=1.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (Django's built-in middleware): only our own origin; inline
# scripts only with the per-request nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "frame-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}

# Observability. GET /metrics (Prometheus) needs `Authorization: Bearer $METRICS_TOKEN`; without
# a token configured it answers 404. A Celery worker serves its own processes' metrics on
# METRICS_PORT (0: none) with the same token. PROMETHEUS_MULTIPROC_DIR (read by
# prometheus-client itself) adds up the samples of gunicorn's and Celery's processes
# (portal/metrics.py says why).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_PORT = env.int("METRICS_PORT", default=0)

# LOG_FORMAT=json writes one JSON object per line (python-json-logger), for a log collector.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json.")
if LOG_FORMAT == "json":
    # A worker logs through the settings' handlers too, not Celery's own plain ones.
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every handler masks card-like numbers (in messages, arguments and tracebacks): a path
    # such as /nosuch/4000000000000077 or a refused field never reaches a log in full.
    "filters": {"mask_card_numbers": {"()": "payments.card_numbers.CardNumberFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "%(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["mask_card_numbers"],
        },
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "django.server",
            "filters": ["mask_card_numbers"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Replaces Django's default handlers for its loggers (which would not mask): its
        # records go to the root's handler; runserver's request lines to a masked one.
        "django": {"handlers": [], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # stripe-python logs every request at INFO, and the parameters sent at DEBUG.
        "stripe": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# Errors to Sentry when SENTRY_DSN is set (Django and Celery integrations are enabled by
# sentry-sdk itself): no personal data (send_default_pii off: no user, cookies, addresses or
# request bodies), and every card-like number masked in whatever the event carries.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from portal.observability import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
