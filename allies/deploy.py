"""Production safety checks: what would make a deployment unsafe."""

import math
from urllib.parse import urlsplit

WEAK_SECRETS = {"", "dev", "secret", "changeme", "change-me", "development", "test", "allies"}

# SECRET_KEY: at least this many characters, at most this share of them predictable, and at least
# this many bits estimated from the rest. A secrets.token_hex(16) or longer, or a token_urlsafe(24)
# or longer, passes (tests/test_deploy.py draws thousands); a key typed by a person rarely does.
SECRET_MIN_LENGTH = 32
SECRET_MAX_PREDICTABLE = 0.4
SECRET_MIN_BITS = 100
# Keyboard rows (unshifted, then shifted): a walk along a row, a column or a diagonal is a pattern.
_KEYBOARD_ROWS = (
    ("1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./"),
    ("!@#$%^&*()_+", "QWERTYUIOP{}|", 'ASDFGHJKL:"', "ZXCVBNM<>?"),
)
_KEY_POSITION = {
    char: (row, column)
    for rows in _KEYBOARD_ROWS
    for row, keys in enumerate(rows)
    for column, char in enumerate(keys)
}


def unsafe_settings(config) -> list[str]:
    """Every reason the configuration is unsafe for production, as sentences."""
    problems = []
    secret = str(config.get("SECRET_KEY") or "")
    if not secret:
        problems.append("SECRET_KEY is not set.")
    elif secret.lower() in WEAK_SECRETS or not looks_random(secret):
        problems.append(
            f"SECRET_KEY is weak: use at least {SECRET_MIN_LENGTH} random characters, "
            "e.g. python3 -c 'import secrets; print(secrets.token_hex(32))' (sequences, "
            "repeats and keyboard walks are not random)."
        )
    base_url = str(config.get("PUBLIC_BASE_URL") or "")
    if urlsplit(base_url).scheme != "https":
        problems.append(
            f"PUBLIC_BASE_URL is not https ({base_url or 'unset'}): emailed links carry "
            "sign-in tokens; set ALLIES_PUBLIC_BASE_URL=https://… (the address people use)."
        )
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
FATAL_PREFIXES = (
    "SECRET_KEY",
    "DEBUG",
    "The database is SQLite",
    "TODAY is set",
    "PUBLIC_BASE_URL",
)


def fatal_problems(config) -> list[str]:
    """The subset of unsafe_settings that must stop a production start."""
    return [p for p in unsafe_settings(config) if p.startswith(FATAL_PREFIXES)]


def looks_random(secret: str) -> bool:
    """Whether ``secret`` is long enough and free of the patterns people type.

    A character is predictable when it continues what came before it (see ``predictable``).
    The key needs SECRET_MIN_LENGTH characters, at most SECRET_MAX_PREDICTABLE of them
    predictable, and SECRET_MIN_BITS from the others, each worth log2 of the size of the
    character classes the key uses (digits 10, lower case 26, upper case 26, others 33).
    """
    if len(secret) < SECRET_MIN_LENGTH:
        return False
    flags = predictable(secret)
    unpredictable = flags.count(False)
    bits = unpredictable * math.log2(_class_size(secret))
    return flags.count(True) <= SECRET_MAX_PREDICTABLE * len(secret) and bits >= SECRET_MIN_BITS


def predictable(text: str) -> list[bool]:
    """For each character of ``text``, whether it continues a pattern of those before it.

    Patterns: a sequence in character codes with a step of at most 3 (``aaa``, ``abc``, ``975``,
    ``aceg``), also between every other character (``a1b2c3``); a walk on the keyboard, one key
    at a time along a row, column or diagonal (``qwe``, ``1qa``); and three characters that
    already appeared together earlier (``abcabc``).
    """
    flags = [False] * len(text)
    for i in range(2, len(text)):
        a, b, c = text[i - 2], text[i - 1], text[i]
        flags[i] = (
            _steady(ord(a), ord(b), ord(c))
            or (i >= 4 and _steady(ord(text[i - 4]), ord(a), ord(c)))
            or _keyboard_walk(a, b, c)
            or text[i - 2 : i + 1] in text[:i]
        )
    return flags


def _steady(a: int, b: int, c: int) -> bool:
    return b - a == c - b and abs(c - b) <= 3


def _keyboard_walk(a: str, b: str, c: str) -> bool:
    if not (a in _KEY_POSITION and b in _KEY_POSITION and c in _KEY_POSITION):
        return False
    (r0, c0), (r1, c1), (r2, c2) = _KEY_POSITION[a], _KEY_POSITION[b], _KEY_POSITION[c]
    step = (r1 - r0, c1 - c0)
    return step == (r2 - r1, c2 - c1) and max(abs(step[0]), abs(step[1])) <= 1


def _class_size(text: str) -> int:
    size = 0
    size += 10 if any(ch.isascii() and ch.isdigit() for ch in text) else 0
    size += 26 if any(ch.isascii() and ch.islower() for ch in text) else 0
    size += 26 if any(ch.isascii() and ch.isupper() for ch in text) else 0
    size += 33 if any(not (ch.isascii() and ch.isalnum()) for ch in text) else 0
    return size
