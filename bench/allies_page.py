"""Benchmark: /allies under gunicorn, against a bare Flask endpoint and nginx, cached and not.

For each number of Allies (``--allies 1000,10000``), over several interleaved rounds with the same
gunicorn settings (``--workers``, 2 by default on a 2-core machine) and the same ``wrk`` load
(``-t2 -c16 -d10s --latency`` by default), it measures:

- ``bare``: a bare Flask endpoint (bench/hello_app.py) answering the same HTML bytes as /allies;
- ``app``: the app's ``/allies``, cached;
- ``static``: nginx serving the same bytes as a static file;
- ``nginx``: the app's ``/allies`` through nginx configured from deploy/nginx.conf (a generated
  copy: loopback ports, no TLS, its own pid, logs and cache in a temporary folder, run as the
  current user), with a gunicorn of its own started with ``ALLIES_TRUSTED_PROXIES=1``;
- ``app walk`` and ``nginx walk``: a wrk Lua script cycling through every page of /allies and a
  set of searches and type filters, started right after the public content changed (the content
  version is bumped, nginx's cache emptied), so the first pass misses every cache.

It prints requests per second, p50 and p99 latency and CPU time a request (from /proc, for the
processes serving: gunicorn's, nginx's, or both), each as the median across rounds with the spread
(min–max), and the ratios app/bare, app/static, nginx/static and walk/cached as medians of the
per-round ratios. Then, without load: one request to each page and search just after a change
(every one a cache miss), and the first render of ``/allies`` and ``/allies.json`` after a change.

Everything listens on 127.0.0.1, every step has a time limit, and every process it started is
stopped on the way out, Ctrl-C and SIGTERM included. Needs ``wrk`` and ``nginx`` (Debian packages;
without nginx the two nginx candidates are skipped). Prints figures; asserts nothing.

    .venv/bin/python bench/allies_page.py [--allies 1000,10000] [--rounds 3] [--workers 2]
        [--threads 2] [--connections 16] [--seconds 10] [--gzip]
        [--throwaway-postgres | --database-url postgresql+psycopg://…]
"""

import argparse
import gzip
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
# The placeholder project folder in deploy/nginx.conf (for /static/).
PROJECT_PLACEHOLDER = "/srv/allies"

# Every server this process started: stopped by stop_all() whatever happens.
_started: list[subprocess.Popen] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------ the database


def load_allies(env: dict, count: int, start: int = 0) -> None:
    """Add Allies number ``start`` to ``count - 1``, each with a current agreement.

    Bulk inserts (the ORM one by one would take minutes at 10,000). Call again with a larger
    ``count`` and ``start`` set to the previous count to grow the same database.
    """
    sys.path.insert(0, str(ROOT))
    os.environ.update(env)
    from allies import create_app
    from allies.agreements.models import Agreement
    from allies.agreements.terms import term_end
    from allies.bootstrap import ensure_defaults
    from allies.cache import ContentVersion
    from allies.extensions import db
    from allies.organizations.models import Organization, OrganizationType

    app = create_app()
    with app.app_context():
        ensure_defaults()
        types = db.session.scalars(db.select(OrganizationType.id)).all()
        today = date.today()
        numbers = range(start, count)
        orgs = [
            {
                "slug": f"ally-{n}",
                "name": f"Health Ally {n:05d}",
                "normalized_name": f"health ally {n:05d}",
                "website": f"https://ally{n}.example.org",
                "website_domain": f"ally{n}.example.org",
                "type_id": types[n % len(types)],
                "city": "Boston",
                "region": "MA",
                "country": "USA",
                "description": "A health organization that teaches and practises social medicine "
                "with its community partners, students and members. " * 2,
            }
            for n in numbers
        ]
        if orgs:
            db.session.execute(db.insert(Organization), orgs)
        slugs = {f"ally-{n}": n for n in numbers}
        rows = db.session.execute(db.select(Organization.id, Organization.slug)).all()
        agreements = []
        for org_id, slug in rows:
            if slug in slugs:
                begun = today - timedelta(days=slugs[slug] % 700)
                agreements.append(
                    {"organization_id": org_id, "start_date": begun, "end_date": term_end(begun)}
                )
        if agreements:
            db.session.execute(db.insert(Agreement), agreements)
        db.session.execute(db.update(ContentVersion).values(token=secrets.token_hex(8)))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "ANALYZE"
                )
        db.engine.dispose()


class ContentBumper:
    """Changes the public content version as the app's flush hook does (allies/cache.py)."""

    def __init__(self, database_url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.engine = create_engine(database_url, poolclass=NullPool)

    def bump(self) -> None:
        """A new token (and changed_at where the column exists), committed."""
        from sqlalchemy import text

        token, now = secrets.token_hex(16), datetime.now(UTC).replace(tzinfo=None)
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    text("UPDATE content_version SET token = :token, changed_at = :now"),
                    {"token": token, "now": now},
                )
        except Exception:  # an older schema without changed_at
            with self.engine.begin() as connection:
                connection.execute(
                    text("UPDATE content_version SET token = :token"), {"token": token}
                )

    def close(self) -> None:
        self.engine.dispose()


# ------------------------------------------------------------------ servers


def _wait_for_port(port: int, process: subprocess.Popen, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on port {port} within {seconds:.0f} s")


def serve(module: str, port: int, workers: int, env: dict, cwd: Path = ROOT) -> subprocess.Popen:
    """gunicorn serving ``module`` on 127.0.0.1:``port``, once it answers; stopped by stop_all."""
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            module,
        ],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: Ctrl-C reaches us, and we stop it
    )
    _started.append(process)
    _wait_for_port(port, process, f"gunicorn {module}")
    status_of(f"http://127.0.0.1:{port}/")  # one worker has loaded the app
    return process


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a server this process started (its own process group), waiting for it."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
    if process in _started:
        _started.remove(process)


def stop_all() -> None:
    """Stop every server still running that this process started, without waiting on requests.

    nginx's fast shutdown is TERM; gunicorn's is QUIT (its TERM waits for requests in flight).
    """
    for process in list(reversed(_started)):
        stop(process, signal.SIGTERM if process.args[0] == "nginx" else signal.SIGQUIT)


def status_of(url: str) -> int | None:
    """The HTTP status of ``GET url`` (None when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """Status, headers and body of ``GET url``."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


# ------------------------------------------------------------------ nginx configuration


def _nginx_tokens(text: str):
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif char in ";{}":
            yield char
            i += 1
        elif char in "\"'":
            end = i + 1
            while end < n and text[end] != char:
                end += 2 if text[end] == "\\" else 1
            yield text[i : end + 1]
            i = end + 1
        else:
            end = i
            while end < n and not text[end].isspace() and text[end] not in ";{}":
                end += 1
            yield text[i:end]
            i = end


def parse_nginx(text: str) -> list:
    """nginx configuration as a list of ``[name, args, block or None]`` (comments dropped)."""
    tokens = _nginx_tokens(text)

    def block() -> list:
        directives, words = [], []
        for token in tokens:
            if token == ";":
                directives.append([words[0], words[1:], None])
                words = []
            elif token == "{":
                directives.append([words[0], words[1:], block()])
                words = []
            elif token == "}":
                return directives
            else:
                words.append(token)
        return directives

    return block()


def format_nginx(directives: list, indent: int = 0) -> str:
    """The text of parsed directives."""
    lines = []
    for name, args, children in directives:
        head = " " * indent + " ".join([name, *args])
        if children is None:
            lines.append(head + ";")
        else:
            lines.append(head + " {")
            lines.append(format_nginx(children, indent + 4))
            lines.append(" " * indent + "}")
    return "\n".join(line for line in lines if line)


def _find(directives: list, name: str) -> list:
    return [d for d in directives if d[0] == name]


def bench_nginx_conf(
    text: str,
    folder: Path,
    *,
    app_port: int,
    proxy_port: int,
    static_port: int | None = None,
    static_root: Path | None = None,
    project: Path = ROOT,
) -> str:
    """A copy of deploy/nginx.conf to run here, without root or TLS.

    The TLS server block serves plain HTTP on 127.0.0.1:``proxy_port`` and proxies to gunicorn
    on ``app_port``; the redirect and catch-all servers are left out; pid, logs, cache and
    temporary files go under ``folder``; workers run as the current user; /static/ comes from
    ``project``. With ``static_port``, a server there answers ``/allies`` with the file
    ``static_root/allies`` (and ``allies.gz`` to clients that accept gzip). Every other
    directive (gzip, the proxy cache, headers, timeouts) is the deployment's own.
    """
    conf = parse_nginx(text.replace(PROJECT_PLACEHOLDER, str(project)))
    top = [d for d in conf if d[0] not in ("user", "pid", "error_log")]
    if os.geteuid() == 0:
        # as root, nginx would switch its workers to nobody, who cannot read the temp folder
        import grp
        import pwd

        user = pwd.getpwuid(os.geteuid()).pw_name
        top.insert(0, ["user", [user, grp.getgrgid(os.getegid()).gr_name], None])
    top.insert(0, ["pid", [str(folder / "nginx.pid")], None])
    top.insert(0, ["error_log", [str(folder / "error.log"), "warn"], None])
    (http,) = _find(top, "http")
    servers = []
    for directive in http[2]:
        name, args, children = directive
        if name == "access_log":
            directive[1] = ["off"]  # the same for every candidate; disk writes are not measured
        elif name == "proxy_cache_path":
            directive[1] = [str(folder / "cache"), *args[1:]]
        elif name == "upstream":
            for server in _find(children, "server"):
                server[1] = [f"127.0.0.1:{app_port}", *server[1][1:]]
        elif name == "server" and _find(children, "ssl_certificate"):
            servers.append(directive)
    if len(servers) != 1:
        raise ValueError("deploy/nginx.conf should have exactly one server with a certificate")
    (site,) = servers
    site[2] = [["listen", [f"127.0.0.1:{proxy_port}"], None]] + [
        d for d in site[2] if d[0] != "listen" and not d[0].startswith("ssl_") and d[0] != "http2"
    ]
    temp = [
        [f"{kind}_temp_path", [str(folder / f"{kind}_temp")], None]
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    ]
    http[2] = [d for d in http[2] if d[0] != "server"] + temp + [site]
    if static_port is not None:
        http[2].append(
            [
                "server",
                [],
                [
                    ["listen", [f"127.0.0.1:{static_port}"], None],
                    ["root", [str(static_root)], None],
                    [
                        "location",
                        ["=", "/allies"],
                        [["default_type", ["text/html"], None], ["gzip_static", ["on"], None]],
                    ],
                ],
            ]
        )
    return format_nginx(top) + "\n"


class Nginx:
    """nginx from a generated copy of deploy/nginx.conf, in the foreground, as our child."""

    def __init__(self, folder: Path, conf: str, ports: list[int]):
        self.folder, self.conf, self.ports = folder, conf, ports
        self.process: subprocess.Popen | None = None
        self.pid = 0

    def start(self) -> None:
        """Start with an empty cache and wait until every port listens."""
        shutil.rmtree(self.folder / "cache", ignore_errors=True)
        for name in ("cache", "client_body_temp", "proxy_temp", "fastcgi_temp"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        for name in ("uwsgi_temp", "scgi_temp"):
            (self.folder / name).mkdir(exist_ok=True)
        path = self.folder / "nginx.conf"
        path.write_text(self.conf)
        command = ["nginx", "-p", f"{self.folder}/", "-e", str(self.folder / "error.log")]
        command += ["-c", str(path), "-g", "daemon off;"]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, start_new_session=True, stderr=subprocess.PIPE
        )
        _started.append(self.process)
        for port in self.ports:
            try:
                _wait_for_port(port, self.process, "nginx")
            except SystemExit:
                errors = self.process.stderr.read().decode() if self.process.poll() else ""
                raise SystemExit(f"nginx did not start: {errors}") from None
        self.pid = self.process.pid

    def restart(self) -> None:
        """Stop, empty the cache, start again."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGQUIT)  # graceful: finishes the requests in flight
            self.process.stderr.close()
            self.process = None


# ------------------------------------------------------------------ measuring


def process_tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by the processes ``pids`` and their children."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # after the command: state, ppid, …; utime and stime are fields 14 and 15
            stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    roots = set(pids)
    ticks = sum(t for pid, (ppid, t) in stats.items() if pid in roots or ppid in roots)
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One wrk run's figures."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # connect, read, write errors and timeouts
    non_2xx: int  # answers other than 2xx and 3xx
    cpu_us: float | None


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _latency(out: str, percent: int) -> float:
    match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def wrk_run(
    url: str,
    *,
    seconds: int,
    threads: int = 2,
    connections: int = 16,
    script: Path | None = None,
    headers: dict | None = None,
    cpu_of: list[int] = (),
) -> Run:
    """Load ``url`` with wrk (``script``: a Lua script choosing the paths) and read its report."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["--timeout", "10s"]  # a slow page is a long latency, not a dropped request
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    cpu_before = process_tree_cpu(list(cpu_of)) if cpu_of else 0.0
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    cpu = process_tree_cpu(list(cpu_of)) - cpu_before if cpu_of else None
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Run(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_latency(out, 50),
        p99_ms=_latency(out, 99),
        requests=requests,
        errors=errors,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        cpu_us=cpu / requests * 1e6 if cpu is not None and requests else None,
    )


def wrk(url: str, seconds: int) -> float:
    """Requests per second of ``url`` under ``wrk -t2 -c32`` (bench/content_version.py)."""
    return wrk_run(url, seconds=seconds, connections=32).rps


def paths_script(paths: list[str], folder: Path, threads: int = 2) -> Path:
    """A wrk Lua script cycling through ``paths``, the threads spread evenly over the list.

    Spread, so that a walk crawls distinct pages rather than two threads asking for the same
    page at the same moment (which would measure nginx's cache lock instead).
    """
    listed = ",\n".join(f'  "{path}"' for path in paths)
    script = folder / "walk.lua"
    script.write_text(
        f"""paths = {{
{listed}
}}
local threads = 0
function setup(thread)
  thread:set("offset", threads * {max(1, len(paths) // max(1, threads))})
  threads = threads + 1
end
function init(args)
  i = offset
end
function request()
  i = i + 1
  return wrk.format(nil, paths[(i % #paths) + 1])
end
"""
    )
    return script


def walk_paths(base: str, loaded: int) -> list[str]:
    """Every page of /allies, then searches and type filters (found by asking the app)."""

    def exists(page: int) -> bool:
        return status_of(f"{base}/allies?page={page}") == 200

    # the last page: double until a page is missing (404), then bisect
    low, high = 1, 2
    while high <= loaded and exists(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if exists(middle) else (low, middle)
    paths = [f"/allies?page={n}" for n in range(1, low + 1)]
    _status, _headers, body = fetch(f"{base}/allies")
    select = re.search(r'<select[^>]*name="type".*?</select>', body.decode(), re.S)
    types = re.findall(r'<option value="(\d+)"', select.group(0)) if select else []
    paths += [f"/allies?type={t}" for t in types]
    for query in ("health", "ally 1", "ally 00042", "ally 9", "clinic", "no such ally"):
        paths.append("/allies?" + urllib.parse.urlencode({"q": query}))
    if types:
        paths.append("/allies?" + urllib.parse.urlencode({"q": "ally 1", "type": types[0]}))
        if status_of(f"{base}/allies?type={types[0]}&page=2") == 200:
            paths.append(f"/allies?type={types[0]}&page=2")
    return paths


def summary(values: list[float], fmt: str = "{:.0f}") -> str:
    """median (min–max) of ``values``."""
    values = [v for v in values if v is not None and v == v]
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))}–{fmt.format(max(values))})"
    )


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(percent / 100 * (len(ordered) - 1))))]


# ------------------------------------------------------------------ one size


def measure(args, env: dict, bumper: ContentBumper, allies: int, work: Path) -> None:
    """Start the servers for the database as it is, run the rounds, print, stop the servers."""
    has_nginx = shutil.which("nginx") is not None
    app_port = free_port()
    app_server = serve("wsgi:app", app_port, args.workers, env)
    app = f"http://127.0.0.1:{app_port}"
    request_headers = {"Accept-Encoding": "gzip"} if args.gzip else {}
    _status, app_headers, body = fetch(f"{app}/allies")
    match = re.search(r'class="count"[^>]*>([\d,]+) All', body.decode())
    shown = match.group(1) if match else "?"
    print(f"\n== {allies:,} Allies loaded; /allies lists {shown}, {len(body):,} bytes a page")
    for name in ("Cache-Control", "ETag", "Last-Modified", "Vary"):
        print(f"   /allies {name}: {app_headers.get(name, '(none)')}")
    _status, gz_headers, gz_body = fetch(f"{app}/allies", {"Accept-Encoding": "gzip"})
    print(
        "   /allies with Accept-Encoding: gzip: "
        f"{gz_headers.get('Content-Encoding', 'not compressed')}, {len(gz_body):,} bytes"
    )
    page = work / f"page-{allies}"
    page.mkdir()
    (page / "allies").write_bytes(body)
    (page / "allies.gz").write_bytes(gzip.compress(body, 6))
    bare_port = free_port()
    bare_env = {**env, "ALLIES_BENCH_BODY": str(page / "allies")}
    bare_server = serve("bench.hello_app:app", bare_port, args.workers, bare_env)
    # what each candidate loads, and the processes whose CPU time serves it
    servers = {
        "bare": (f"http://127.0.0.1:{bare_port}/hello", lambda: [bare_server.pid]),
        "app": (f"{app}/allies", lambda: [app_server.pid]),
    }
    walk = paths_script(walk_paths(app, allies), page, args.threads)
    paths = re.findall(r'^  "(.*)"', walk.read_text(), re.M)
    print(
        f"   walk: {len(paths)} paths ({sum(p.startswith('/allies?page=') for p in paths)} pages)"
    )
    nginx = None
    if has_nginx:
        proxied_port, proxy_port, static_port = free_port(), free_port(), free_port()
        proxied = serve(
            "wsgi:app", proxied_port, args.workers, {**env, "ALLIES_TRUSTED_PROXIES": "1"}
        )
        folder = work / f"nginx-{allies}"
        folder.mkdir()
        conf = bench_nginx_conf(
            NGINX_CONF.read_text(),
            folder,
            app_port=proxied_port,
            proxy_port=proxy_port,
            static_port=static_port,
            static_root=page,
        )
        nginx = Nginx(folder, conf, [proxy_port, static_port])
        nginx.start()
        servers["static"] = (f"http://127.0.0.1:{static_port}/allies", lambda: [nginx.pid])
        servers["nginx"] = (
            f"http://127.0.0.1:{proxy_port}/allies",
            lambda: [nginx.pid, proxied.pid],
        )
        fetch(servers["nginx"][0])
        _status, headers, _body = fetch(servers["nginx"][0])
        print(
            f"   through nginx, a second GET /allies: X-Cache-Status {headers.get('X-Cache-Status')}"
        )

    def run(name: str, seconds: int, script: Path | None = None) -> Run:
        url, processes = servers[name.removesuffix(" walk")]
        return wrk_run(
            url,
            seconds=seconds,
            threads=args.threads,
            connections=args.connections,
            script=script,
            headers=request_headers,
            cpu_of=processes(),
        )

    for name in servers:  # every worker warm, every cache filled
        run(name, 2)
    candidates = list(servers) + ["app walk"] + (["nginx walk"] if nginx else [])
    results: dict[str, list[Run]] = {name: [] for name in candidates}
    for round_number in range(args.rounds):
        shift = round_number % len(candidates)  # each candidate takes each place in turn
        for name in candidates[shift:] + candidates[:shift]:
            if name.endswith(" walk"):
                bumper.bump()  # every cached page is stale now
                if name == "nginx walk":
                    nginx.restart()  # and nginx's cache is empty
                results[name].append(run(name, args.seconds, walk))
                if name == "nginx walk":
                    # a fresh nginx answers its first second slowly (its cache lock's first
                    # waits): the cached candidate must not start there
                    run("nginx", 1)
            else:
                results[name].append(run(name, args.seconds))
        print(f"   round {round_number + 1} of {args.rounds} done", file=sys.stderr, flush=True)

    report(args, allies, results)
    misses(app, bumper, paths, args.miss_paths)
    first_render(app, bumper, args.first_renders)
    if nginx is not None:
        nginx.stop()
    stop_all()


def report(args, allies: int, results: dict[str, list[Run]]) -> None:
    labels = {
        "bare": "bare Flask, same bytes",
        "app": "/allies, cached",
        "static": "nginx, static file",
        "nginx": "/allies through nginx",
        "app walk": "/allies walk (misses)",
        "nginx walk": "walk through nginx",
    }
    print(
        f"   gunicorn -w {args.workers}; wrk -t{args.threads} -c{args.connections} "
        f"-d{args.seconds}s --latency{' -H Accept-Encoding: gzip' if args.gzip else ''}; "
        f"{args.rounds} interleaved rounds; median (min–max)"
    )
    print(f"   {'':24} {'req/s':>20} {'p50 ms':>20} {'p99 ms':>22} {'CPU µs/req':>20}")
    for name, runs in results.items():
        errors, non_2xx = sum(r.errors for r in runs), sum(r.non_2xx for r in runs)
        trouble = ", ".join(
            text
            for count, text in (
                (errors, f"{errors} socket errors"),
                (non_2xx, f"{non_2xx} non-2xx"),
            )
            if count
        )
        print(
            f"   {labels[name]:24} {summary([r.rps for r in runs]):>20} "
            f"{summary([r.p50_ms for r in runs], '{:.2f}'):>20} "
            f"{summary([r.p99_ms for r in runs], '{:.2f}'):>22} "
            f"{summary([r.cpu_us for r in runs]):>20}" + (f"  ({trouble})" if trouble else "")
        )

    def ratio(top: str, bottom: str, budget: str) -> None:
        if results.get(top) and results.get(bottom):
            per_round = [
                t.rps / b.rps for t, b in zip(results[top], results[bottom], strict=True) if b.rps
            ]
            print(f"   {top + ' / ' + bottom:24} {summary(per_round, '{:.2f}'):>20}  {budget}")

    print("   ratios of req/s, median of the rounds' ratios (min–max):")
    ratio("app", "bare", "(budget at 1,000: at least 0.80)")
    ratio("app", "static", "")
    ratio("nginx", "static", "(budget at 1,000: at least 0.50)")
    ratio("app walk", "app", "(target at 10,000: at least 0.50)")
    ratio("nginx walk", "nginx", "")


def misses(base: str, bumper: ContentBumper, paths: list[str], limit: int) -> None:
    """One request to each path (at most ``limit``, spread evenly) right after a change."""
    if limit <= 0:
        return
    step = max(1, -(-len(paths) // limit))
    chosen = paths[::step]
    bumper.bump()
    times = []
    for path in chosen:
        started = time.perf_counter()
        fetch(base + path)
        times.append((time.perf_counter() - started) * 1000)
    bumper.bump()
    print(
        f"   a cache miss, one request to each of {len(chosen)} paths after a change: "
        f"median {statistics.median(times):.1f} ms, p90 {percentile(times, 90):.1f} ms, "
        f"max {max(times):.1f} ms (target at 10,000: under 15 ms)"
    )


def first_render(base: str, bumper: ContentBumper, repeats: int) -> None:
    """The first request after a change, for /allies and /allies.json."""
    for path in ("/allies", "/allies.json"):
        times, size = [], 0
        for _ in range(repeats):
            bumper.bump()
            started = time.perf_counter()
            _status, _headers, body = fetch(base + path)
            times.append((time.perf_counter() - started) * 1000)
            size = len(body)
        print(
            f"   first render after a change, {path:13} {summary(times, '{:.1f}')} ms "
            f"({size:,} bytes, {repeats} changes)"
        )


# ------------------------------------------------------------------ the command


def _stop_on_sigterm(_signum, _frame):
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allies", default="1000,10000", help="comma-separated sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run")
    parser.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip")
    parser.add_argument("--miss-paths", type=int, default=60, help="paths timed after a change")
    parser.add_argument("--first-renders", type=int, default=5)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url", default="", help="an existing, empty database")
    where.add_argument("--throwaway-postgres", action="store_true")
    args = parser.parse_args()
    sizes = sorted({int(n.replace("_", "")) for n in args.allies.split(",") if n.strip()})
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if shutil.which("nginx") is None:
        print("nginx is not installed (apt-get install nginx): its candidates are skipped")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Ctrl-C even when started from a shell that ignores it for background jobs
    signal.signal(signal.SIGINT, signal.default_int_handler)

    postgres = None
    work = Path(tempfile.mkdtemp(prefix="allies-bench-"))
    bumper = None
    try:
        database_url = args.database_url
        if args.throwaway_postgres:
            sys.path.insert(0, str(ROOT))
            from tests.pg_server import ThrowAwayPostgres

            postgres = ThrowAwayPostgres()
            if not postgres.start():
                raise SystemExit(f"no PostgreSQL: {postgres.reason}")
            database_url = postgres.url
        instance = work / "instance"
        instance.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ALLIES_")},
            "ALLIES_INSTANCE_PATH": str(instance),
            "DATABASE_URL": database_url or f"sqlite:///{instance}/allies.sqlite3",
            "SECRET_KEY": secrets.token_hex(32),
            "ALLIES_TIMEZONE": "UTC",
        }
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        bumper = ContentBumper(env["DATABASE_URL"])
        print(
            f"bench/allies_page.py on {env['DATABASE_URL'].split(':')[0]}, "
            f"{os.cpu_count()} cores, {', '.join(f'{n:,}' for n in sizes)} Allies"
        )
        loaded = 0
        for size in sizes:
            started = time.perf_counter()
            load_allies(env, size, start=loaded)
            print(f"loaded {size - loaded:,} Allies in {time.perf_counter() - started:.1f} s")
            loaded = size
            measure(args, env, bumper, size, work)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the servers", file=sys.stderr)
        sys.exit(130)
    finally:
        stop_all()
        if bumper is not None:
            bumper.close()
        shutil.rmtree(work, ignore_errors=True)
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()
