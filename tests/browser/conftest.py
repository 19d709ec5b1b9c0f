"""Browser fixtures: the app under gunicorn on a loopback port, Chromium, screenshots, axe-core.

The browser tests check pages, not databases, so one server on one SQLite database serves the
whole session (the rest of the suite covers PostgreSQL). It is set up the way an operator does:
``flask db upgrade``, ``flask bootstrap`` (demo data on), then gunicorn. With no MAIL_SERVER every
email stays in the outbox table (once delivered, its links only in its .eml file); ``backend``
reads the links a person would click from there and makes the data a journey starts from (through
the real operations, in this process, on the same database and secret key as the server).

Run only these tests with ``pytest tests/browser`` or ``pytest -m browser``; they are skipped, with
the reason, when /usr/bin/chromium, Playwright or node_modules/axe-core (``npm ci``) is missing.
Screenshots of every page visited go to ``test-output/screenshots/<test>/``.
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_PATH = ROOT / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
LINK_PATTERN = re.compile(r"https?://[^\s/]+(/my/link/[A-Za-z0-9._\-]+(?:\?[^\s]*)?)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: real-browser tests (Playwright driving /usr/bin/chromium against gunicorn); "
        "select with -m browser, leave out with -m 'not browser'",
    )


def _tool(name: str) -> str:
    """A console script of this virtualenv (flask, gunicorn), else the one on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_available():
    """Skip (saying why) when the browser or its driver is missing; CI installs both."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')"
    )


class LiveServer:
    """gunicorn serving ``wsgi:app`` on a free loopback port, on its own instance folder."""

    def __init__(self, folder: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instance = folder / "instance"
        self.database_url = f"sqlite:///{folder / 'allies.sqlite3'}"
        self.secret_key = secrets.token_hex(32)
        self.log_path = OUTPUT / "browser-server.log"
        self.env = {
            **os.environ,
            "ALLIES_ENV": "development",
            "ALLIES_INSTANCE_PATH": str(self.instance),
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": self.secret_key,
            "ALLIES_PUBLIC_BASE_URL": self.url,
            "ALLIES_TIMEZONE": "UTC",
            "ALLIES_MAIL_SERVER": "",
            # Rate limiting stays on; the journeys and page checks sign staff in a few times
            # within a minute, so allow more than the production default.
            "ALLIES_SIGN_IN_RATE_LIMIT": "100 per minute",
            "ALLIES_APPLY_RATE_LIMIT": "1000 per hour",
        }
        self.admin_email = ""
        self.admin_password = ""
        self.process = None
        self._log = None

    def flask(self, *args: str) -> str:
        """Run ``flask --app wsgi <args>`` as an operator would; its output, or an error."""
        result = subprocess.run(
            [_tool("flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"flask {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def start(self) -> None:
        self.instance.mkdir(parents=True, exist_ok=True)
        self.flask("db", "upgrade")
        printed = self.flask("bootstrap", "--demo")
        email = re.search(r"email:\s+(\S+)", printed)
        password = re.search(r"password:\s+(\S+)", printed)
        assert email and password, f"bootstrap did not print the first admin:\n{printed}"
        self.admin_email, self.admin_password = email.group(1), password.group(1)

        OUTPUT.mkdir(exist_ok=True)
        self._log = open(self.log_path, "w")  # closed in stop()
        self.process = subprocess.Popen(
            [
                _tool("gunicorn"),
                "--bind", f"127.0.0.1:{self.port}",
                "--workers", "2",
                "--threads", "4",
                "--graceful-timeout", "3",
                "--access-logfile", "-",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer within 30 s; see {self.log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()


@pytest.fixture(scope="session")
def server(chromium_available, tmp_path_factory):
    """The app as deployed: migrated, bootstrapped with demo data, served by gunicorn."""
    live = LiveServer(tmp_path_factory.mktemp("browser-server"))
    try:
        live.start()
        yield live
    finally:
        live.stop()


class Backend:
    """Data a journey starts from, and the emails it produces, through the app's own code."""

    def __init__(self, server: LiveServer):
        from allies import create_app
        from tests.fixtures import Factory

        self.server = server
        self.app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": server.database_url,
                "INSTANCE_PATH": str(server.instance),
                "SECRET_KEY": server.secret_key,
                "PUBLIC_BASE_URL": server.url,
                "SERVER_NAME": server.url.split("//", 1)[1],  # emails built here link there
                "TIMEZONE": "UTC",
            }
        )
        self.factory = Factory(self.app)

    def close(self) -> None:
        from allies.extensions import db

        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()

    def today(self):
        """Today in the alliance's time zone (UTC here, as on the server)."""
        from allies.timeutil import alliance_today

        with self.app.app_context():
            return alliance_today()

    def staff(self, role: str = "reviewer") -> tuple[str, str]:
        """A new staff account: (email, password)."""
        _id, email, password = self.factory.staff(role)
        return email, password

    def emails_to(self, address: str) -> list[tuple[str, str]]:
        """(subject, plain-text body) of every email for ``address``, newest first.

        A delivered message's stored copy has its link tokens redacted: its body is then read
        from the .eml file delivery wrote (no MAIL_SERVER), as the person would open it.
        """
        from email import message_from_bytes
        from email.policy import default as default_policy

        from allies.extensions import db
        from allies.mail.models import OutboxMessage
        from allies.mail.sender import eml_filename

        with self.app.app_context():
            messages = db.session.scalars(
                db.select(OutboxMessage)
                .where(OutboxMessage.to_addr == address)
                .order_by(OutboxMessage.id.desc())
            ).all()
            emails = []
            for message in messages:
                body = message.body_text
                eml = self.server.instance / "mail" / eml_filename(message)
                if message.status == "sent" and eml.exists():
                    parsed = message_from_bytes(eml.read_bytes(), policy=default_policy)
                    body = parsed.get_body(("plain",)).get_content()
                emails.append((message.subject, body))
            return emails

    def link_in_email(self, address: str, subject_contains: str = "") -> str:
        """The ``/my/link/…`` path (with its ``?next=``) in the newest matching email."""
        emails = self.emails_to(address)
        for subject, body in emails:
            match = LINK_PATTERN.search(body)
            if subject_contains.lower() in subject.lower() and match:
                return match.group(1)
        raise AssertionError(
            f"no email to {address} with a /my/link/ link"
            + (f" and {subject_contains!r} in the subject" if subject_contains else "")
            + f"; emails to that address: {[subject for subject, _ in emails]}"
        )

    def sign_in_link(self, email: str) -> str:
        """A fresh sign-in link path for the contact with ``email`` (as the email would carry)."""
        from allies.extensions import db
        from allies.organizations.access import make_link_token
        from allies.organizations.models import Contact

        with self.app.app_context():
            contact = db.session.scalar(db.select(Contact).where(Contact.email == email))
            assert contact is not None, f"no contact {email}"
            token = make_link_token(contact, "sign-in")
            db.session.commit()
            return f"/my/link/{token}"

    def agreements_of(self, organization_id: int) -> list[tuple[int, object, object]]:
        """(id, start, end) of an organization's agreements, oldest first."""
        from allies.agreements.models import Agreement
        from allies.extensions import db

        with self.app.app_context():
            rows = db.session.execute(
                db.select(Agreement.id, Agreement.start_date, Agreement.end_date)
                .where(Agreement.organization_id == organization_id)
                .order_by(Agreement.start_date)
            ).all()
            return [tuple(row) for row in rows]

    def organization(self, name: str) -> tuple[int, str, str | None]:
        """(id, slug, logo file name) of the organization called ``name``."""
        from allies.extensions import db
        from allies.organizations.models import Organization

        with self.app.app_context():
            org = db.session.scalar(db.select(Organization).where(Organization.name == name))
            assert org is not None, f"no organization {name!r}"
            return org.id, org.slug, org.logo_filename

    def ask_question(self, application_id: int, body: str) -> None:
        """An admin asks the applicant a question (through the operation staff use)."""
        from allies.applications.models import Application
        from allies.applications.operations import ask_question
        from allies.extensions import db
        from allies.staff.models import StaffUser

        with self.app.app_context():
            staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
            ask_question(db.session.get(Application, application_id), body, staff=staff)


@pytest.fixture(scope="session")
def backend(server):
    helper = Backend(server)
    yield helper
    helper.close()


class Site:
    """What the page checks open: an applicant asked a question, an Ally due to renew, and the
    signed-in browser states of staff and of each contact (signed in once, through the forms)."""

    def __init__(self, browser, server: LiveServer, backend: Backend):
        from dateutil.relativedelta import relativedelta

        self.applicant_email = "applicant@harborhealth.example.org"
        self.application_id = backend.factory.application(
            name="Harbor Community Health Workers", email=self.applicant_email
        )
        backend.ask_question(self.application_id, "Which communities do your health workers serve?")
        self.ally_email = "contact@prairienursing.example.org"
        self.ally_name = "Prairie Nursing Education Consortium"
        start = backend.today() - relativedelta(months=23)  # renewal is open
        self.organization_id, self.agreement_id = backend.factory.ally(
            start=start, name=self.ally_name, email=self.ally_email
        )
        _id, self.ally_slug, _logo = backend.organization(self.ally_name)
        self.states = {"public": None}
        context = browser.new_context(base_url=server.url)
        try:
            page = context.new_page()
            # The first admin, with the password ``flask bootstrap`` printed once.
            page.goto("/staff/sign-in")
            page.get_by_label("Email", exact=True).fill(server.admin_email)
            page.get_by_label("Password", exact=True).fill(server.admin_password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Dashboard", level=1).wait_for()
            self.states["staff"] = context.storage_state()
        finally:
            context.close()
        for who, address in (("applicant", self.applicant_email), ("ally", self.ally_email)):
            context = browser.new_context(base_url=server.url)
            try:
                page = context.new_page()
                page.goto(backend.sign_in_link(address))
                page.get_by_role("button", name="Continue").click()
                page.wait_for_url("**/my")
                self.states[who] = context.storage_state()
            finally:
                context.close()


@pytest.fixture(scope="session")
def site(browser, server, backend):
    return Site(browser, server, backend)


class Web:
    """Browser contexts on the live server, screenshots of each page, and console errors."""

    def __init__(self, browser, server: LiveServer, shots_dir: Path):
        self.browser = browser
        self.server = server
        self.shots_dir = shots_dir
        self.contexts = []
        self.console_errors: list[str] = []
        self._shot_count = 0

    def context(self, viewport=None, **options):
        context = self.browser.new_context(
            base_url=self.server.url,
            viewport=viewport or DESKTOP,
            locale="en-US",
            timezone_id="UTC",
            **options,
        )
        context.set_default_timeout(10_000)
        context.on("console", self._on_console)
        context.on("response", self._on_response)
        context.on(
            "weberror", lambda error: self.console_errors.append(f"page error: {error.error}")
        )
        self.contexts.append(context)
        return context

    def page(self, viewport=None, **options):
        """A new page in a new context: a separate person with their own cookies."""
        return self.context(viewport=viewport, **options).new_page()

    def _on_console(self, message) -> None:
        # A failed load is reported (with its address) by _on_response instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.console_errors.append(
                f"{message.page.url if message.page else '?'}: {message.text}"
            )

    def _on_response(self, response) -> None:
        """A stylesheet, script or image that fails to load (pages may answer 4xx on purpose)."""
        request = response.request
        if (
            response.status >= 400
            and request.resource_type != "document"
            and not request.url.endswith("/favicon.ico")  # the site has none; browsers ask
        ):
            self.console_errors.append(f"{request.url}: HTTP {response.status}")

    def shot(self, page, name: str) -> Path:
        """Save a full-page screenshot as ``<n>-<name>.png`` in this test's folder."""
        self._shot_count += 1
        self.shots_dir.mkdir(parents=True, exist_ok=True)
        path = self.shots_dir / f"{self._shot_count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def assert_no_console_errors(self) -> None:
        """No script errors and no Content-Security-Policy violations on any page visited."""
        assert not self.console_errors, "errors in the browser:\n" + "\n".join(self.console_errors)

    def sign_in_staff(self, page, email: str, password: str) -> None:
        """Sign in on the staff form, as a person types it; ends on the dashboard."""
        page.goto("/staff/sign-in")
        self.shot(page, "staff-sign-in")
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Dashboard", level=1).wait_for()
        self.shot(page, "staff-dashboard")

    def follow_link(self, page, path: str, name: str = "link") -> None:
        """Open an emailed link and press its Continue button (only a POST signs in)."""
        page.goto(path)
        self.shot(page, f"{name}-continue")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state()

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture(scope="session")
def browser(chromium_available):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def web(browser, server, request):
    """Browser helpers for one test; its screenshots start afresh in their own folder."""
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    shutil.rmtree(folder, ignore_errors=True)
    helper = Web(browser, server, folder)
    yield helper
    helper.close()


@pytest.fixture(scope="session")
def axe_source():
    """The axe-core script (the npm package, installed by ``npm ci``)."""
    if not AXE_PATH.exists():
        pytest.skip(f"{AXE_PATH.relative_to(ROOT)} is missing: run `npm ci` at the project root")
    return AXE_PATH
