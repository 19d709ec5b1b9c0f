"""Configuration: defaults here, then instance/config.py, then ALLIES_* environment variables.

``DATABASE_URL`` (no prefix, as hosting platforms set it) overrides the embedded SQLite database.
``PUBLIC_BASE_URL``, when neither instance/config.py nor the environment sets it, is the address
``make run`` last served at, recorded in ``instance/public_base_url``, so email queued by any
process (a separate ``flask --app wsgi reminders run``) links to the running site.
"""

import os
import secrets
from pathlib import Path

DEFAULTS = {
    "ALLIES_ENV": "development",
    "TIMEZONE": "America/New_York",
    "MAIL_SERVER": "",
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": "",
    "MAIL_PASSWORD": "",
    "MAIL_TIMEOUT": 10,
    "MAIL_DEFAULT_SENDER": "Allies <allies@localhost>",
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    # A fixed date for the alliance's clock (staging and demos; refused in production).
    "TODAY": None,
    "SIGN_IN_LINK_MAX_AGE": 3 * 24 * 3600,
    "RENEWAL_LINK_MAX_AGE": 60 * 24 * 3600,
    # Sign-in links emailed on request to one address in any hour, whatever the source.
    "SIGN_IN_LINKS_PER_HOUR": 3,
    # Unused, unexpired links one contact holds per purpose; a new one retires the oldest.
    "LIVE_LINKS_PER_CONTACT": 3,
    "MAX_CONTENT_LENGTH": 3 * 1024 * 1024,
    "LOGO_MAX_BYTES": 2 * 1024 * 1024,
    "LOGO_MAX_SIDE": 800,
    "RATELIMIT_STORAGE_URI": "allies+db://",
    "RATELIMIT_HEADERS_ENABLED": True,
    # Failed staff sign-ins (allies/staff/sign_in_limits.py): one account from one address,
    # one address whatever the account, one account from browsers that never signed in to it.
    "SIGN_IN_RATE_LIMIT": "5 per minute;20 per hour",
    "SIGN_IN_ADDRESS_RATE_LIMIT": "20 per minute;100 per hour",
    "SIGN_IN_ACCOUNT_RATE_LIMIT": "100 per hour;300 per day",
    "APPLY_RATE_LIMIT": "20 per hour",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    # Session lifetimes in seconds (allies/sessions.py); CSRF tokens last as long as the longest.
    "CONTACT_SESSION_LIFETIME": 12 * 3600,
    "STAFF_SESSION_IDLE_TIMEOUT": 30 * 60,
    "STAFF_SESSION_LIFETIME": 12 * 3600,
    "ALLOW_SQLITE_IN_PRODUCTION": False,
    # How many reverse proxies (setting X-Forwarded-For/-Proto/-Host) stand in front of the app.
    "TRUSTED_PROXIES": 0,
}


def load_secret_key(instance_path: str) -> str:
    """Return the instance's secret key, creating a random one on first use (embedded default)."""
    key_file = Path(instance_path) / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


# Written by ``make run``: the address the app is served at, for links in email.
PUBLIC_BASE_URL_FILE = "public_base_url"


def recorded_base_url(instance_path: str) -> str | None:
    """The address ``make run`` recorded in the instance folder, or None."""
    try:
        url = (Path(instance_path) / PUBLIC_BASE_URL_FILE).read_text().strip()
    except OSError:
        return None
    return url or None


def configure(app, test_config=None) -> None:
    """Apply the configuration layers to ``app``."""
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(DEFAULTS)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
        app.instance_path, "allies.sqlite3"
    )
    app.config["UPLOAD_FOLDER"] = os.path.join(app.instance_path, "uploads")
    app.config["MAIL_FOLDER"] = os.path.join(app.instance_path, "mail")
    if test_config is None:
        default_base_url = app.config.pop("PUBLIC_BASE_URL")
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("ALLIES")
        if not app.config.get("PUBLIC_BASE_URL"):
            app.config["PUBLIC_BASE_URL"] = recorded_base_url(app.instance_path) or default_base_url
        # from_prefixed_env strips the prefix; ALLIES_ENV keeps its full name here.
        app.config["ALLIES_ENV"] = app.config.pop("ENV", app.config["ALLIES_ENV"])
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
        if os.environ.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    else:
        app.config.from_mapping(test_config)
    if app.config["ALLIES_ENV"] == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
        app.config["PREFERRED_URL_SCHEME"] = "https"
    elif not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(app.instance_path)
    os.makedirs(app.config["UPLOAD_FOLDER"], exist_ok=True)
    os.makedirs(app.config["MAIL_FOLDER"], exist_ok=True)
