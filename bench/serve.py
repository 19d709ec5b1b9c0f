"""Serve Allies under gunicorn on a free loopback port, for the benchmarks and the load tests.

As a library::

    from bench.serve import GunicornServer

    with GunicornServer(database_url, workers=3, demo=True) as server:
        ...  # server.base_url, server.log_text(), server.admin_email

As a command (from the project folder)::

    .venv/bin/python bench/serve.py --database-url postgresql+psycopg://…/allies_load \\
        --workers 4 --threads 4 --demo -- .venv/bin/python bench/load.py --base-url {base_url}

The database is migrated (``flask --app wsgi db upgrade``) and bootstrapped (``bootstrap
--no-demo``, then ``demo`` when asked) first. With a command after ``--`` the server runs for that
command only (``{base_url}`` in its arguments and ``ALLIES_BASE_URL`` in its environment are the
server's address) and the exit status is the command's; without one it serves until Ctrl-C.
``--throwaway-postgres`` starts a temporary PostgreSQL server (tests/pg_server.py) to serve from.
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# gunicorn's configuration file: each worker says when it has loaded the app, and the access log
# names the worker (``<pid>``) and the time taken (ms), so a test can see who served what.
_GUNICORN_CONFIG = """\
import os

access_log_format = '%(p)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms'


def post_worker_init(worker):
    open(os.path.join({ready_dir!r}, str(worker.pid)), "w").close()
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerError(RuntimeError):
    """The server could not be prepared or started; the message carries the output."""


class GunicornServer:
    """One gunicorn master with ``workers`` workers serving ``wsgi:app`` on 127.0.0.1."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        workers: int = 2,
        threads: int = 1,
        demo: bool = False,
        env: dict[str, str] | None = None,
        folder: str | None = None,
        start_timeout: float = 60.0,
    ):
        self.own_folder = folder is None
        self.folder = folder or tempfile.mkdtemp(prefix="allies-serve-")
        self.instance_path = os.path.join(self.folder, "instance")
        self.database_url = database_url or "sqlite:///" + os.path.join(
            self.instance_path, "allies.sqlite3"
        )
        self.workers = workers
        self.threads = threads
        self.demo = demo
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.log_path = os.path.join(self.folder, "gunicorn.log")
        self.ready_dir = os.path.join(self.folder, "ready")
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.admin_email: str | None = None
        self.admin_password: str | None = None
        self.setup_output = ""
        self.secret_key = secrets.token_hex(32)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """The server's environment: ours, without any ALLIES_* settings of the caller."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("ALLIES_") and key not in ("DATABASE_URL", "SECRET_KEY")
        }
        env.update(
            DATABASE_URL=self.database_url,
            ALLIES_INSTANCE_PATH=self.instance_path,
            SECRET_KEY=self.secret_key,
            ALLIES_TIMEZONE="UTC",
            PYTHONUNBUFFERED="1",
            # a load test sends hundreds of applications from one loopback address
            ALLIES_APPLY_RATE_LIMIT="100000 per hour",
        )
        env.update(self.extra_env)
        return env

    def _flask(self, *args: str) -> str:
        command = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
        result = subprocess.run(
            command,
            cwd=PROJECT_DIR,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = result.stdout + result.stderr
        self.setup_output += f"$ flask --app wsgi {' '.join(args)}\n{output}"
        if result.returncode != 0:
            raise ServerError(f"flask {' '.join(args)} failed ({result.returncode}):\n{output}")
        return output

    def prepare(self) -> None:
        """Migrate the database, make the first admin, and load the demo Allies if asked."""
        os.makedirs(self.instance_path, exist_ok=True)
        self._flask("db", "upgrade")
        output = self._flask("bootstrap", "--no-demo")
        email = re.search(r"email:\s+(\S+)", output)
        password = re.search(r"password:\s+(\S+)", output)
        self.admin_email = email.group(1) if email else None
        self.admin_password = password.group(1) if password else None
        if self.demo:
            self._flask("demo")

    def start(self) -> "GunicornServer":
        """Prepare the database, start gunicorn, and return once every worker answers."""
        self.prepare()
        last_error = ""
        for _attempt in range(3):  # the free port may be taken before gunicorn binds it
            try:
                self._launch()
                return self
            except ServerError as exc:
                last_error = str(exc)
                self.stop()
                if "Address already in use" not in last_error:
                    break
        raise ServerError(last_error)

    def _launch(self) -> None:
        shutil.rmtree(self.ready_dir, ignore_errors=True)
        os.makedirs(self.ready_dir)
        config_path = os.path.join(self.folder, "gunicorn.conf.py")
        with open(config_path, "w") as handle:
            handle.write(_GUNICORN_CONFIG.format(ready_dir=self.ready_dir))
        self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            config_path,
            "-w",
            str(self.workers),
            "-b",
            f"127.0.0.1:{self.port}",
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "10",
        ]
        if self.threads > 1:
            command += ["--worker-class", "gthread", "--threads", str(self.threads)]
        command.append("wsgi:app")
        log = open(self.log_path, "a")  # gunicorn holds its own copy
        try:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_DIR,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"gunicorn exited with {self.process.returncode}:\n{self.log_text()[-3000:]}"
                )
            if len(os.listdir(self.ready_dir)) >= self.workers:
                status = self._status_of("/")
                if status is not None and status >= 500:
                    raise ServerError(f"GET / answered {status}:\n{self.log_text()[-5000:]}")
                if status is not None:
                    return
            time.sleep(0.1)
        raise ServerError(
            f"gunicorn did not answer within {self.start_timeout:.0f} s:\n{self.log_text()[-3000:]}"
        )

    def _status_of(self, path: str) -> int | None:
        """The HTTP status of ``GET path``, or None when the server does not answer."""
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def stop(self) -> None:
        """Stop gunicorn (TERM, then KILL of its own process group). Safe to call twice."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)

    def cleanup(self) -> None:
        """Stop, and delete the temporary folder if this object made it."""
        self.stop()
        if self.own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def log_text(self) -> str:
        try:
            with open(self.log_path, errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def access_log(self) -> list[dict]:
        """The access-log lines so far: pid, method, path, status, ms."""
        pattern = re.compile(r'^<(\d+)> \S+ "(\S+) (\S+) [^"]*" (\d{3}) \S+ (\d+)ms$')
        entries = []
        for line in self.log_text().splitlines():
            match = pattern.match(line)
            if match:
                pid, method, path, status, ms = match.groups()
                entries.append(
                    {
                        "pid": int(pid),
                        "method": method,
                        "path": path,
                        "status": int(status),
                        "ms": int(ms),
                    }
                )
        return entries

    def tracebacks(self) -> list[str]:
        """Every Python traceback the server logged (errors inside a request, mostly)."""
        blocks, current = [], None
        for line in self.log_text().splitlines():
            if line.startswith("Traceback (most recent call last)"):
                current = [line]
                blocks.append(current)
            elif current is not None:
                if line.startswith(("<", "[")) and not line.startswith("  "):
                    current = None
                else:
                    current.append(line)
        return ["\n".join(block) for block in blocks]

    def __enter__(self) -> "GunicornServer":
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc_info) -> None:
        self.cleanup()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url", help="default: an SQLite file in a temporary folder")
    where.add_argument(
        "--throwaway-postgres", action="store_true", help="start a temporary PostgreSQL server"
    )
    parser.add_argument("-w", "--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="above 1: gthread workers")
    parser.add_argument("--demo", action="store_true", help="load the demo Allies")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="server environment"
    )
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)

    postgres = None
    database_url = args.database_url
    if args.throwaway_postgres:
        sys.path.insert(0, PROJECT_DIR)
        from tests.pg_server import ThrowAwayPostgres

        postgres = ThrowAwayPostgres()
        if not postgres.start():
            print(f"serve: no PostgreSQL: {postgres.reason}", file=sys.stderr)
            return 2
        database_url = postgres.url
    server = GunicornServer(
        database_url, workers=args.workers, threads=args.threads, demo=args.demo, env=env
    )
    try:
        server.start()
        print(
            f"serve: {server.base_url} ({args.workers} workers × {args.threads} threads) "
            f"on {server.database_url}; log {server.log_path}",
            file=sys.stderr,
            flush=True,
        )
        if not command:
            try:
                while server.process and server.process.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
            return 0
        command = [part.replace("{base_url}", server.base_url) for part in command]
        result = subprocess.run(command, env={**os.environ, "ALLIES_BASE_URL": server.base_url})
        tracebacks = server.tracebacks()
        if tracebacks:
            print(
                f"serve: the server logged {len(tracebacks)} traceback(s); the first:",
                file=sys.stderr,
            )
            print(tracebacks[0], file=sys.stderr)
        return result.returncode
    except ServerError as exc:
        print(f"serve: {exc}\n{server.setup_output}", file=sys.stderr)
        return 2
    finally:
        server.cleanup()
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
