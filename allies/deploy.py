"""Production safety checks: what would make a deployment unsafe."""

WEAK_SECRETS = {"", "dev", "secret", "changeme", "change-me", "development", "test", "allies"}


def unsafe_settings(config) -> list[str]:
    """Every reason the configuration is unsafe for production, as sentences."""
    problems = []
    secret = str(config.get("SECRET_KEY") or "")
    if not secret:
        problems.append("SECRET_KEY is not set.")
    elif secret.lower() in WEAK_SECRETS or len(secret) < 32 or len(set(secret)) < 10:
        problems.append("SECRET_KEY is weak: use at least 32 random characters.")
    if config.get("DEBUG"):
        problems.append("DEBUG is on.")
    uri = str(config.get("SQLALCHEMY_DATABASE_URI", ""))
    if uri.startswith("sqlite") and not config.get("ALLOW_SQLITE_IN_PRODUCTION"):
        problems.append(
            "The database is SQLite: set DATABASE_URL to PostgreSQL "
            "(or ALLIES_ALLOW_SQLITE_IN_PRODUCTION=true to accept it)."
        )
    fixed_today = str(config.get("TODAY") or "").strip()
    if fixed_today:
        problems.append(
            f"TODAY is set (ALLIES_TODAY={fixed_today}): the instance's clock is moved off the "
            "real date, for staging and demos only; unset ALLIES_TODAY in production."
        )
    if not config.get("SESSION_COOKIE_SECURE"):
        problems.append("SESSION_COOKIE_SECURE is off: cookies would travel over plain HTTP.")
    if str(config.get("RATELIMIT_STORAGE_URI", "")).startswith("memory"):
        problems.append(
            "Rate limits are counted in each worker's memory: use allies+db:// (the default) "
            "or redis://… so every worker shares them."
        )
    if not config.get("TRUSTED_PROXIES"):
        problems.append(
            "TRUSTED_PROXIES is 0: behind a reverse proxy set ALLIES_TRUSTED_PROXIES=1, or every "
            "visitor shares the proxy's address (endorsement IPs, rate limits)."
        )
    if not config.get("MAIL_SERVER"):
        problems.append("MAIL_SERVER is not set: email is only written to files.")
    return problems


# Problems that stop a production start; the rest are warnings from check-deploy.
FATAL_PREFIXES = ("SECRET_KEY", "DEBUG", "The database is SQLite", "TODAY is set")


def fatal_problems(config) -> list[str]:
    """The subset of unsafe_settings that must stop a production start."""
    return [p for p in unsafe_settings(config) if p.startswith(FATAL_PREFIXES)]
