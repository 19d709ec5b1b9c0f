"""Backup and restore: a round trip on each database gives the same public pages and sends no
reminder twice; restore refuses a target that is not empty, an archive of the other database
kind, a damaged or unsafe archive; backup never overwrites by accident and copies a database
consistently while another connection writes to it.
"""

import io
import json
import os
import sqlite3
import tarfile
import threading
import time
import uuid
from datetime import timedelta
from hashlib import sha256
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask_migrate import stamp, upgrade

from allies import create_app
from allies.agreements.models import Agreement
from allies.agreements.operations import terminate_agreement
from allies.backup import (
    BackupError,
    _libpq,
    backup,
    find_pg_program,
    head_revision,
    read_manifest,
)
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.mail.sender import deliver_pending
from allies.organizations.models import Organization
from allies.organizations.profile import prepare_logo, save_logo
from allies.reminders.models import Reminder
from allies.reminders.operations import run_sweep
from allies.staff.models import StaffUser
from allies.timeutil import alliance_today
from tests.fixtures import Factory, png_bytes, queue, start_for_end

PUBLIC_PATHS = ["/", "/become-an-ally", "/allies", "/allies.json", "/conferences", "/theme.css"]


def config_for(url: str, instance: Path) -> dict:
    """The test configuration of an app on ``url`` with its own instance folder."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": url,
        "INSTANCE_PATH": str(instance),
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": "allies.test",
        "PUBLIC_BASE_URL": "http://allies.test",
        "TIMEZONE": "UTC",
    }


@pytest.fixture
def empty_target(database_url, tmp_path):
    """A factory of apps on a new, empty database of the same kind, with an empty instance."""
    made = []

    def make():
        name = f"allies_restore_{uuid.uuid4().hex[:8]}"
        if database_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path}/{name}.sqlite3"
        else:
            server = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
            with server.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {name}"))
            server.dispose()
            url = database_url.rsplit("/", 1)[0] + "/" + name
        target = create_app(config_for(url, tmp_path / name))
        made.append((target, name))
        return target

    yield make
    for target, name in made:
        with target.app_context():
            db.session.remove()
            db.engine.dispose()
        if not database_url.startswith("sqlite"):
            server = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
            with server.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            server.dispose()


@pytest.fixture
def stamped(app):
    """Stamp the source database with the migrations' heads (the conftest schema has none)."""
    with app.app_context():
        stamp(revision="heads")
        revisions = sorted(db.session.scalars(sa.text("SELECT version_num FROM alembic_version")))
        db.session.remove()
    yield revisions
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))


def build_programme(app, factory: Factory) -> dict:
    """Allies in several standings (three with logos), a waiting application, reminders sent.

    The dates put one reminder of each kind within the first sweep's look-back (a week).
    """
    with app.app_context():
        today = alliance_today()
        logos = [
            save_logo(prepare_logo(io.BytesIO(png_bytes((300, 150), (40 * n, 90, 120)))))
            for n in range(3)
        ]
    day = timedelta(days=1)
    factory.ally(start=today - 100 * day, name="Current Clinic", logo_filename=logos[0])
    factory.ally(
        start=start_for_end(today + 30 * day), name="Expiring Health", logo_filename=logos[1]
    )
    factory.ally(start=start_for_end(today - 3 * day), name="Grace Collective")
    factory.ally(start=start_for_end(today - 33 * day), name="Lapsed Network")
    _org, renewing = factory.ally(
        start=start_for_end(today + 40 * day), name="Renewed Alliance", logo_filename=logos[2]
    )
    factory.renewal(renewing, submitted_on=today - 5 * day, approved_on=today - day)
    _org, ending = factory.ally(start=today - 300 * day, name="Terminated Group")
    factory.application(name="Waiting Applicant")
    with app.app_context():
        staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
        terminate_agreement(
            db.session.get(Agreement, ending),
            staff=staff,
            reason="Closed its doors.",
            on=today - 20 * day,
            today=today - 20 * day,
        )
        sweep = run_sweep(today)
        assert sweep.count >= 3 and not sweep.errors, sweep.lines
        while deliver_pending().claimed:
            pass
    return {"today": today, "logos": logos, "reminders_queued": sweep.count}


def every_row(app) -> dict:
    """Every row of every table, ordered by primary key."""
    with app.app_context():
        result = {}
        for table in db.metadata.sorted_tables:
            query = sa.select(table).order_by(*table.primary_key.columns)
            result[table.name] = [tuple(row) for row in db.session.execute(query)]
        db.session.remove()
        return result


def public_paths(app) -> list[str]:
    """The public pages: the fixed ones, every organization's page, every logo."""
    with app.app_context():
        slugs = db.session.scalars(db.select(Organization.slug).order_by(Organization.slug))
        paths = PUBLIC_PATHS + [f"/allies/{slug}" for slug in slugs]
    feed = json.loads(app.test_client().get("/allies.json").data)
    paths += [urlsplit(ally["logo_url"]).path for ally in feed["allies"] if ally["logo_url"]]
    return paths


def test_round_trip_serves_the_same_pages_and_sends_no_reminder_again(
    app, factory, runner, stamped, empty_target, tmp_path
):
    programme = build_programme(app, factory)
    archive = tmp_path / "allies-backup.tar.gz"
    result = runner.invoke(args=["backup", str(archive)])
    assert result.exit_code == 0, result.output
    assert "Backed up" in result.output and "3 uploaded files" in result.output

    target = empty_target()
    result = target.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 0, result.output
    assert "3 uploaded files" in result.output

    # Same data, same schema revision, same logo files.
    assert every_row(target) == every_row(app)
    with target.app_context():
        restored = sorted(db.session.scalars(sa.text("SELECT version_num FROM alembic_version")))
        db.session.remove()
    assert restored == stamped
    source_logos = Path(app.config["UPLOAD_FOLDER"])
    for name in programme["logos"]:
        assert (Path(target.config["UPLOAD_FOLDER"]) / name).read_bytes() == (
            source_logos / name
        ).read_bytes()

    # Every public page, byte for byte.
    paths = public_paths(app)
    assert sum(path.startswith("/logos/") for path in paths) == 3
    original, copy = app.test_client(), target.test_client()
    listed = 0
    for path in paths:
        before, after = original.get(path), copy.get(path)
        assert (after.status_code, after.data) == (before.status_code, before.data), path
        listed += path.startswith("/allies/") and before.status_code == 200
    assert listed == 4  # current, expiring, in grace, renewed; not lapsed or terminated
    assert b"Grace Collective" in original.get("/allies").data

    # Reminders already sent are not sent again, and new rows get new ids.
    with target.app_context():
        reminders = db.session.scalar(sa.select(sa.func.count()).select_from(Reminder))
        messages = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
        again = run_sweep(programme["today"])
        assert (again.count, again.errors) == (0, [])
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Reminder)) == reminders
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == messages
        db.session.remove()
    Factory(target).application(name="After The Restore")

    # Now the target is not empty: a second restore is refused and changes nothing.
    rows = every_row(target)
    result = target.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 1
    assert "is not empty" in result.output and "Nothing was changed" in result.output
    assert every_row(target) == rows


def test_restore_refuses_a_target_that_is_not_empty(app, runner, empty_target, tmp_path):
    archive = tmp_path / "backup.tar.gz"
    assert runner.invoke(args=["backup", str(archive)]).exit_code == 0

    # Into the database it came from.
    result = runner.invoke(args=["restore", str(archive)])
    assert result.exit_code == 1
    assert "The target database" in result.output and "is not empty" in result.output

    # Into an empty database with something in the upload folder.
    target = empty_target()
    stray = Path(target.config["UPLOAD_FOLDER"]) / "someone-elses.png"
    stray.write_bytes(b"not ours")
    result = target.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 1
    assert "The upload folder" in result.output and "is not empty" in result.output
    with target.app_context():
        assert sa.inspect(db.engine).get_table_names() == []
        db.engine.dispose()
    assert [p.name for p in stray.parent.iterdir()] == [stray.name]


# --- SQLite only: the archive itself ----------------------------------------------------------


@pytest.fixture
def sqlite_source(tmp_path):
    """An app on its own SQLite file with the defaults and one logo."""
    source = create_app(
        config_for(f"sqlite:///{tmp_path}/source/allies.sqlite3", tmp_path / "source")
    )
    with source.app_context():
        from allies.bootstrap import ensure_defaults

        db.create_all()
        ensure_defaults()
        save_logo(prepare_logo(io.BytesIO(png_bytes())))
    yield source
    with source.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def sqlite_target(tmp_path):
    """An app on a SQLite file that does not exist yet, with an empty instance folder."""
    target = create_app(
        config_for(f"sqlite:///{tmp_path}/target/allies.sqlite3", tmp_path / "target")
    )
    yield target
    with target.app_context():
        db.engine.dispose()


def untouched(target) -> bool:
    """Whether a restore left the target as it was: no database file, no uploads."""
    database = Path(target.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    return not database.exists() and not any(Path(target.config["UPLOAD_FOLDER"]).iterdir())


def rewrite(archive: Path, out: Path, *, manifest=None, rename=None, replace=None, extra=()):
    """A copy of ``archive`` with its manifest edited, members renamed or replaced, or added."""
    with tarfile.open(archive, "r:gz") as tar, tarfile.open(out, "w:gz") as copy:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()
            if member.name == "manifest.json" and manifest:
                data = json.dumps(manifest(json.loads(data))).encode()
            if replace and member.name in replace:
                data = replace[member.name]
            info = tarfile.TarInfo((rename or {}).get(member.name, member.name))
            info.size = len(data)
            copy.addfile(info, io.BytesIO(data))
        for info, data in extra:
            copy.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def made_backup(source, tmp_path) -> Path:
    with source.app_context():
        return backup(tmp_path / "backup.tar.gz").path


def test_archive_layout_and_manifest(sqlite_source, tmp_path):
    archive = made_backup(sqlite_source, tmp_path)
    manifest = read_manifest(archive)
    assert manifest["format"] == "allies-backup" and manifest["format_version"] == 1
    assert manifest["database"] == "sqlite" and manifest["alembic_revision"] is None
    assert manifest["app_version"] and manifest["created_at"].endswith("+00:00")
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
    assert names[-1] == "manifest.json"  # last: it lists what was archived before it
    assert names[:-1] == [entry["path"] for entry in manifest["files"]]
    assert names[0] == "database/allies.sqlite3" and names[1].startswith("uploads/")
    assert archive.stat().st_mode & 0o077 == 0  # personal data: readable by its owner only


def test_backup_refuses_to_overwrite_unless_forced(sqlite_source, tmp_path):
    archive = tmp_path / "backup.tar.gz"
    archive.write_bytes(b"an older backup")
    runner = sqlite_source.test_cli_runner()
    result = runner.invoke(args=["backup", str(archive)])
    assert result.exit_code == 1 and "already exists; use --force" in result.output
    assert archive.read_bytes() == b"an older backup"

    result = runner.invoke(args=["backup", "--force", str(archive)])
    assert result.exit_code == 0, result.output
    assert read_manifest(archive)["database"] == "sqlite"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.tar.gz", "source"]  # no temp


def test_restore_refuses_an_archive_of_the_other_database_kind(
    sqlite_source, sqlite_target, tmp_path
):
    def as_postgresql(manifest):
        manifest["database"] = "postgresql"
        manifest["files"][0]["path"] = "database/allies.pgdump"
        return manifest

    archive = rewrite(
        made_backup(sqlite_source, tmp_path),
        tmp_path / "pg.tar.gz",
        manifest=as_postgresql,
        rename={"database/allies.sqlite3": "database/allies.pgdump"},
    )
    result = sqlite_target.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 1
    assert "holds a PostgreSQL database and this instance uses SQLite" in result.output
    assert "not supported" in result.output
    assert untouched(sqlite_target)


def test_restore_refuses_a_damaged_archive(sqlite_source, sqlite_target, tmp_path):
    original = made_backup(sqlite_source, tmp_path)
    logo = read_manifest(original)["files"][1]["path"]
    size = read_manifest(original)["files"][1]["size"]
    damaged = rewrite(original, tmp_path / "damaged.tar.gz", replace={logo: b"x" * size})
    result = sqlite_target.test_cli_runner().invoke(args=["restore", str(damaged)])
    assert result.exit_code == 1 and "does not match its checksum" in result.output
    assert untouched(sqlite_target)

    # A member of another size than its manifest says is refused before anything is unpacked.
    grown = rewrite(original, tmp_path / "grown.tar.gz", replace={logo: b"x" * (size + 10)})
    result = sqlite_target.test_cli_runner().invoke(args=["restore", str(grown)])
    assert result.exit_code == 1
    assert f"is {size + 10} bytes but its manifest says {size}" in result.output
    assert untouched(sqlite_target)

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(original.read_bytes()[:200])
    result = sqlite_target.test_cli_runner().invoke(args=["restore", str(truncated)])
    assert result.exit_code == 1 and "Error:" in result.output
    assert untouched(sqlite_target)


@pytest.mark.parametrize(
    "escape",
    ["../escaped.png", "/tmp/escaped-allies.png", "uploads/../../escaped.png", "uploads/link"],
)
def test_restore_refuses_members_outside_the_target(escape, sqlite_source, sqlite_target, tmp_path):
    original = made_backup(sqlite_source, tmp_path)
    info = tarfile.TarInfo(escape)
    if escape == "uploads/link":
        info.type, info.linkname, data = tarfile.SYMTYPE, "/etc/passwd", None
    else:
        data = b"escaped"
        info.size = len(data)

    def listing_it(manifest):
        manifest["files"].append({"path": escape, "size": 7, "sha256": "0" * 64})
        return manifest

    unlisted = rewrite(original, tmp_path / "unlisted.tar.gz", extra=[(info, data)])
    listed = rewrite(
        original, tmp_path / "listed.tar.gz", manifest=listing_it, extra=[(info, data)]
    )
    for archive in (unlisted, listed):
        result = sqlite_target.test_cli_runner().invoke(args=["restore", str(archive)])
        assert result.exit_code == 1, result.output
        assert "nothing was restored" in result.output.lower() or "unsafe" in result.output
        assert untouched(sqlite_target)
    assert not (tmp_path / "escaped.png").exists() and not Path("/tmp/escaped-allies.png").exists()


def test_the_database_password_is_never_on_the_command_line():
    """pg_dump and pg_restore get a URI without the password (seen in ps) and PGPASSWORD."""
    url = "postgresql+psycopg://ally:s3cr%40t@db.internal:5433/allies?sslmode=require"
    uri, env = _libpq(sa.engine.make_url(url))
    assert uri == "postgresql://ally@db.internal:5433/allies?sslmode=require"
    assert env["PGPASSWORD"] == "s3cr@t"


def test_backup_while_another_connection_writes_is_consistent(sqlite_source, tmp_path):
    """Ten messages per transaction: every copy holds whole transactions and passes checks.

    Meanwhile logos are being written slowly into the upload folder, as an upload would: every
    archive still matches its manifest, so none is unrestorable.
    """
    queue(sqlite_source, 500)
    uploads = Path(sqlite_source.config["UPLOAD_FOLDER"])
    stop, errors, batches = threading.Event(), [], [0]

    def writer():
        try:
            while not stop.is_set():
                queue(sqlite_source, 10)
                batches[0] += 1
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    def uploader():
        n = 0
        while not stop.is_set():
            n += 1
            with open(uploads / f"{n:032x}.png", "wb") as logo:
                for _chunk in range(50):
                    logo.write(os.urandom(2048))
                    logo.flush()
                    time.sleep(0.001)

    threads = [threading.Thread(target=writer), threading.Thread(target=uploader)]
    for thread in threads:
        thread.start()
    try:
        while batches[0] < 3:
            time.sleep(0.01)
        counts = []
        for n in range(4):
            with sqlite_source.app_context():
                archive = backup(tmp_path / f"live-{n}.tar.gz").path
            manifest = read_manifest(archive)
            with tarfile.open(archive, "r:gz") as tar:
                for entry in manifest["files"]:
                    data = tar.extractfile(entry["path"]).read()
                    assert (len(data), sha256(data).hexdigest()) == (entry["size"], entry["sha256"])
                tar.extract("database/allies.sqlite3", tmp_path / f"copy-{n}", filter="data")
            copy = sqlite3.connect(tmp_path / f"copy-{n}" / "database" / "allies.sqlite3")
            assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            counts.append(copy.execute("SELECT count(*) FROM outbox_message").fetchone()[0])
            copy.close()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert all(count % 10 == 0 for count in counts), counts
    assert counts == sorted(counts) and counts[0] >= 530
    with sqlite_source.app_context():
        assert counts[-1] <= db.session.scalar(
            sa.select(sa.func.count()).select_from(OutboxMessage)
        )


def test_backup_refuses_a_missing_folder_or_the_upload_folder(sqlite_source, tmp_path):
    with sqlite_source.app_context():
        with pytest.raises(BackupError, match="does not exist"):
            backup(tmp_path / "no-such-folder" / "backup.tar.gz")
        uploads = Path(sqlite_source.config["UPLOAD_FOLDER"])
        with pytest.raises(BackupError, match="outside the upload folder"):
            backup(uploads / "backup.tar.gz")
        assert len(list(uploads.iterdir())) == 1  # the logo, nothing else


def test_pg_programs_missing_are_named_with_what_to_install():
    with pytest.raises(BackupError, match="pg_nonexistent was not found on PATH"):
        find_pg_program("pg_nonexistent")


def test_an_older_backup_is_restored_at_its_revision_then_upgraded(tmp_path, sqlite_target):
    """The upgrade path: restore, then `flask --app wsgi db upgrade` brings the schema forward."""
    initial = "f6dcbac44305"
    old = create_app(config_for(f"sqlite:///{tmp_path}/old/allies.sqlite3", tmp_path / "old"))
    with old.app_context():
        upgrade(revision=initial)
        archive = backup(tmp_path / "old.tar.gz").path
        db.engine.dispose()
    runner = sqlite_target.test_cli_runner()
    result = runner.invoke(args=["restore", str(archive)])
    assert result.exit_code == 0, result.output
    assert f"schema {initial}" in result.output and "db upgrade` next" in result.output
    with sqlite_target.app_context():
        assert db.session.scalar(sa.text("SELECT version_num FROM alembic_version")) == initial
        db.session.remove()
        upgrade(revision="heads")
        stamped = sorted(db.session.scalars(sa.text("SELECT version_num FROM alembic_version")))
        assert stamped == sorted(head_revision().split())
        db.session.remove()
