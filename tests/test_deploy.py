"""Deployment configuration: links on the configured address, check-deploy's judgement of it, and
deploy/nginx.conf (valid with its placeholders filled; caching, forwarding, gzip, static files)."""

import gzip
import http.client
import json
import secrets
import shutil
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


# ------------------------------------------------------------------ deploy/nginx.conf
# nginx's behaviour is checked against a small upstream that answers with the headers the app
# sends (public pages storable, the rest not), so each rule of the file is seen on its own;
# bench/allies_page.py runs the same generated copy in front of the real app.

NGINX_CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"
needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx)"
)


def _nginx_test(conf_path) -> subprocess.CompletedProcess:
    folder = conf_path.parent
    return subprocess.run(
        ["nginx", "-t", "-p", f"{folder}/", "-e", str(folder / "error.log"), "-c", str(conf_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_nginx
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_nginx_conf_with_its_placeholders_filled_passes_nginx_t(tmp_path):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "2", "-subj", "/CN=allies.example.org"]
        + ["-keyout", str(tmp_path / "privkey.pem"), "-out", str(tmp_path / "fullchain.pem")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (tmp_path / "cache").mkdir()
    text = NGINX_CONF.read_text()
    for placeholder, value in {
        "/etc/ssl/allies/": f"{tmp_path}/",
        "/srv/allies": str(Path(__file__).resolve().parent.parent),
        # the system paths too, so the check needs neither root nor an installed site
        "/run/nginx.pid": str(tmp_path / "nginx.pid"),
        "/var/log/nginx/": f"{tmp_path}/",
        "/var/cache/nginx/": f"{tmp_path}/cache/",
    }.items():
        assert placeholder in text, placeholder
        text = text.replace(placeholder, value)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    result = _nginx_test(conf)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


class _Upstream(ThreadingHTTPServer):
    """Stands in for gunicorn: public pages storable for a minute, the rest not."""

    def __init__(self):
        self.seen: list[tuple[str, str, dict]] = []
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)


class _UpstreamHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(("GET", self.path, dict(self.headers)))
        body = b"<!doctype html><p>" + b"An Ally. " * 300 + b"</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if "nostore" not in self.path:
            self.send_header("Cache-Control", "public, max-age=60, stale-while-revalidate=300")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.server.seen.append(("POST", self.path, dict(self.headers)))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args):
        pass


@pytest.fixture
def nginx_in_front(tmp_path):
    """nginx from the benchmark's copy of deploy/nginx.conf, before a stand-in upstream."""
    from bench.allies_page import Nginx, bench_nginx_conf, free_port

    upstream = _Upstream()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    conf = bench_nginx_conf(
        NGINX_CONF.read_text(), tmp_path, app_port=upstream.server_address[1], proxy_port=port
    )
    nginx = Nginx(tmp_path, conf, [port])
    nginx.start()
    try:
        yield f"http://127.0.0.1:{port}", upstream.seen
    finally:
        nginx.stop()
        upstream.shutdown()
        upstream.server_close()


@needs_nginx
def test_the_benchmarks_copy_of_nginx_conf_passes_nginx_t(tmp_path):
    from bench.allies_page import bench_nginx_conf

    conf = tmp_path / "nginx.conf"
    conf.write_text(
        bench_nginx_conf(
            NGINX_CONF.read_text(), tmp_path, app_port=8000, proxy_port=8001, static_port=8002
        )
    )
    (tmp_path / "cache").mkdir()
    result = _nginx_test(conf)
    assert result.returncode == 0, result.stderr


def _get(url: str, **headers) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.headers, response.read()


@needs_nginx
def test_nginx_caches_public_pages_as_the_app_says_and_never_for_a_signed_in_visitor(
    nginx_in_front,
):
    base, seen = nginx_in_front
    statuses = [_get(f"{base}/allies?page=2")[1]["X-Cache-Status"] for _ in range(3)]
    assert statuses == ["MISS", "HIT", "HIT"]
    assert [path for _method, path, _headers in seen] == ["/allies?page=2"]

    for cookie in ("session=abc", "remember_token=1|x"):
        _status, headers, _body = _get(f"{base}/allies?page=2", Cookie=cookie)
        assert headers["X-Cache-Status"] == "BYPASS", cookie
    assert len(seen) == 3  # both went to the app, and neither replaced the stored page
    assert _get(f"{base}/allies?page=2")[1]["X-Cache-Status"] == "HIT"

    # what the app does not mark storable is asked for every time
    for _ in range(2):
        assert _get(f"{base}/allies?nostore=1")[1]["X-Cache-Status"] == "MISS"
    # and pages outside the public ones never go near the cache, whatever they say
    for _ in range(2):
        assert "X-Cache-Status" not in _get(f"{base}/apply")[1]
    assert [path for _m, path, _h in seen[3:]] == ["/allies?nostore=1"] * 2 + ["/apply"] * 2


@needs_nginx
def test_nginx_forwards_what_the_app_trusts_and_compresses_text(nginx_in_front):
    base, seen = nginx_in_front
    _get(f"{base}/sign-in", **{"X-Forwarded-For": "203.0.113.9"})
    _method, _path, headers = seen[-1]
    # the visitor's own X-Forwarded-For is replaced, never passed on for ProxyFix to trust
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"  # https in production: the TLS server
    assert headers["X-Forwarded-Host"] == headers["Host"] == "127.0.0.1"

    _status, headers, body = _get(f"{base}/allies", **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).startswith(b"<!doctype html>")
    assert "Content-Encoding" not in _get(f"{base}/allies")[1]


@needs_nginx
def test_nginx_serves_static_files_itself_and_refuses_bodies_over_the_apps_limit(
    nginx_in_front,
):
    base, seen = nginx_in_front
    _status, headers, body = _get(f"{base}/static/css/site.css")
    project = Path(__file__).resolve().parent.parent
    assert body == (project / "allies" / "static" / "css" / "site.css").read_bytes()
    assert headers["Cache-Control"] == "max-age=2592000"
    assert seen == []

    port = int(base.rsplit(":", 1)[1])
    for size, status in ((3 * 1024 * 1024 + 1, 413), (100_000, 204)):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.putrequest("POST", "/apply")
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        if status != 413:
            connection.send(b"x" * size)
        assert connection.getresponse().status == status, size
        connection.close()
    assert [method for method, _path, _headers in seen] == ["POST"]
