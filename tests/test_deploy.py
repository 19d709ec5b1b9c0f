"""Deployment configuration: links on the configured address, check-deploy's judgement of it."""

import json
import secrets

import pytest

from allies import create_app
from allies.deploy import fatal_problems, unsafe_settings

# A key as the README makes one: secrets.token_hex(32).
GOOD_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def production_config(tmp_path, **overrides) -> dict:
    """A production configuration with nothing unsafe that stops a start."""
    return {
        "ALLIES_ENV": "production",
        "SECRET_KEY": GOOD_KEY,
        "PUBLIC_BASE_URL": "https://allies.example.org",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3",
        "ALLOW_SQLITE_IN_PRODUCTION": True,
        "INSTANCE_PATH": str(tmp_path),
        **overrides,
    }


# ------------------------------------------------------------------ /allies.json and the Host


@pytest.fixture
def public_base(app_config):
    app_config["PUBLIC_BASE_URL"] = "https://allies.example.org/network"
    app_config.pop("SERVER_NAME")


def test_allies_json_links_are_on_the_public_base_url_whatever_the_host(
    public_base, app, client, factory
):
    factory.ally(name="Linked Org", logo_filename="0123abcd.png")
    for host in ("evil.example", "allies.example.org", "evil.example"):
        response = client.get("/allies.json", headers={"Host": host})
        assert response.status_code == 200
        (ally,) = json.loads(response.get_data(as_text=True))["allies"]
        assert ally["url"] == "https://allies.example.org/network/allies/linked-org", host
        assert ally["logo_url"] == "https://allies.example.org/network/logos/0123abcd.png", host
        assert "evil.example" not in response.get_data(as_text=True)


# ------------------------------------------------------------------ the public base URL


def test_an_http_public_base_url_is_unsafe_in_production(tmp_path):
    problems = unsafe_settings(production_config(tmp_path, PUBLIC_BASE_URL="http://allies.org"))
    assert any(p.startswith("PUBLIC_BASE_URL is not https") for p in problems), problems
    assert not any(
        p.startswith("PUBLIC_BASE_URL") for p in unsafe_settings(production_config(tmp_path))
    )


@pytest.mark.parametrize("url", ["http://allies.example.org", "allies.example.org", "ftp://x.org"])
def test_production_refuses_to_start_with_a_public_base_url_that_is_not_https(tmp_path, url):
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL is not https"):
        create_app(production_config(tmp_path, PUBLIC_BASE_URL=url))
    create_app(production_config(tmp_path))  # the same with https starts


def test_check_deploy_names_the_http_public_base_url(tmp_path):
    app = create_app(production_config(tmp_path))
    app.config["PUBLIC_BASE_URL"] = "http://allies.example.org"
    result = app.test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == 1
    assert "UNSAFE: PUBLIC_BASE_URL is not https (http://allies.example.org)" in result.output


# ------------------------------------------------------------------ SECRET_KEY's randomness


WEAK_KEYS = [
    "0123456789" * 4,
    "0123456789abcdefghijklmnopqrstuvwxyz",
    "zyxwvutsrqponmlkjihgfedcba9876543210",
    "abc" * 16,
    "abcdefgh" * 6,
    "a" * 64,
    "deadbeef" * 8,
    "0123456789abcdef" * 4,
    "qwertyuiopasdfghjklzxcvbnm1234567890",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8",
    "acegikmoqsuwy02468bdfhjlnprtvxz13579",
    "Password123!Password123!Password123!",
    "k3Y-abcdefghijklmnopqrstuvwxyz0123456789",
    "a-long-random-secret-0123456789abcdefghijklmnop",
]


@pytest.mark.parametrize("key", WEAK_KEYS)
def test_a_patterned_secret_key_is_refused(tmp_path, key):
    assert len(key) >= 32  # long enough: refused for its pattern alone
    problems = fatal_problems(production_config(tmp_path, SECRET_KEY=key))
    assert any(p.startswith("SECRET_KEY is weak") for p in problems), key


@pytest.mark.parametrize(
    "make",
    [
        lambda: secrets.token_hex(32),
        lambda: secrets.token_hex(16),
        lambda: secrets.token_urlsafe(48),
        lambda: secrets.token_urlsafe(32),
        lambda: secrets.token_urlsafe(24),
    ],
)
def test_random_secret_keys_pass(tmp_path, make):
    for _ in range(2000):
        key = make()
        problems = unsafe_settings(production_config(tmp_path, SECRET_KEY=key))
        assert not any(p.startswith("SECRET_KEY") for p in problems), key


def test_short_and_known_keys_are_still_refused(tmp_path):
    for key in ("", "changeme", secrets.token_hex(15)):
        problems = fatal_problems(production_config(tmp_path, SECRET_KEY=key))
        assert any(p.startswith("SECRET_KEY") for p in problems), key


def test_a_production_start_with_a_patterned_key_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="SECRET_KEY is weak"):
        create_app(production_config(tmp_path, SECRET_KEY="0123456789" * 4))
    create_app(production_config(tmp_path))
