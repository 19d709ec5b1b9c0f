"""Backup and restore: one tar.gz archive with a consistent copy of the database and the logos.

An archive (format 1) holds:

``database/allies.sqlite3`` (SQLite)
    a copy made with SQLite's online-backup API: one read snapshot, so the copy is consistent
    while the app keeps writing (in WAL mode writers are never blocked by it).
``database/allies.pgdump`` (PostgreSQL)
    ``pg_dump --format=custom``: one snapshot of the whole database, compressed, restored by
    ``pg_restore`` object by object in a single transaction with ``--no-owner --no-privileges``,
    so the target may belong to another role. A plain SQL script would need psql, an
    ON_ERROR_STOP discipline and an owner that matches.
``uploads/…``
    the upload folder (logos) as it was.
``manifest.json`` (last: it describes what was archived)
    the format and its version, the database kind, the Alembic revision of the schema, when it
    was made, the Allies version that made it, and every other member with its size and sha256.

The upload folder is read before and after the database snapshot: logos get random names and
are never rewritten, a logo is written before the transaction that names it commits, and only
logos nobody uses (for a day) are deleted, so every logo the snapshot names is in the archive.

A restore goes into an empty database and an empty upload folder only, of the same kind as the
backup; it brings the schema back at the backup's Alembic revision, and ``flask --app wsgi db
upgrade`` then brings it forward to the code's. Moving between SQLite and PostgreSQL is not
supported. Passwords never appear on a command line: libpq reads them from ``PGPASSWORD``.
"""

import glob
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from flask import current_app

from allies.errors import OperationError, operation
from allies.extensions import db

FORMAT = "allies-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBERS = {"sqlite": "database/allies.sqlite3", "postgresql": "database/allies.pgdump"}
KIND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
UPLOADS = "uploads"
CHUNK = 1024 * 1024


class BackupError(OperationError):
    """A backup or restore refused or failed; the message says why and what to do."""


@dataclass
class BackupResult:
    """What ``backup`` wrote."""

    path: Path
    kind: str
    revision: str | None
    uploads: int
    size: int
    seconds: float


@dataclass
class RestoreResult:
    """What ``restore`` brought back, and the schema revision the code expects."""

    kind: str
    revision: str | None
    head: str | None
    uploads: int
    created_at: str
    app_version: str
    seconds: float = 0.0


# --- the configured database ------------------------------------------------------------------


def database_kind() -> str:
    """``sqlite`` or ``postgresql``: the kind of the configured database."""
    kind = db.engine.url.get_backend_name()
    if kind not in DATABASE_MEMBERS:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {kind}.")
    return kind


def _sqlite_path() -> Path:
    database = db.engine.url.database
    if database in (None, "", ":memory:") or db.engine.url.query.get("mode") == "memory":
        raise BackupError("The database is in memory: there is nothing on disk to back up.")
    return Path(database)


def _alembic_revision(execute) -> str | None:
    """The schema's Alembic revision (None for a schema that Alembic never stamped).

    ``execute`` runs one SQL string and returns a cursor (sqlite3's or SQLAlchemy's). A schema
    on several branches has several revisions, given in order and separated by spaces.
    """
    rows = execute("SELECT version_num FROM alembic_version").fetchall()
    return " ".join(sorted(row[0] for row in rows)) or None


def head_revision() -> str | None:
    """The newest Alembic revision this code has a migration for."""
    from alembic.script import ScriptDirectory

    from allies.extensions import migrate

    try:
        heads = ScriptDirectory.from_config(migrate.get_config()).get_heads()
    except Exception:  # no migrations folder next to the code: nothing to compare with
        return None
    return " ".join(sorted(heads)) or None


def app_version() -> str:
    """The installed Allies version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("allies")
    except PackageNotFoundError:
        return "unknown"


# --- PostgreSQL client programs ---------------------------------------------------------------


def _version_key(path: str) -> tuple:
    match = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/bin/", path)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else (0, 0)


def find_pg_program(name: str) -> str:
    """The path of a PostgreSQL client program: on PATH, else the newest /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if candidates:
        return candidates[-1]
    raise BackupError(
        f"{name} was not found on PATH or in /usr/lib/postgresql/*/bin. Install the PostgreSQL "
        "client programs (Debian and Ubuntu: the postgresql-client package), at least as new as "
        "the server, or put their folder on PATH."
    )


def _libpq(url: sa.engine.URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and an environment that carries it."""
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    # URL.set(password=None) would keep the password: build the URL anew without it.
    without_password = sa.engine.URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    uri = without_password.render_as_string(hide_password=False)
    return uri, env


def _run_pg(program: str, arguments: list[str], env: dict[str, str], what: str) -> None:
    try:
        completed = subprocess.run(
            [program, *arguments], env=env, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise BackupError(f"{what}: could not run {program}: {exc}") from None
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip()[-2000:]
        raise BackupError(
            f"{what} failed ({Path(program).name} exit {completed.returncode}):\n{detail}"
        )


# --- backup -----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _upload_files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every regular file under ``folder``: relative POSIX path -> (size, mtime_ns)."""
    found = {}
    if not folder.is_dir():
        return found
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            try:
                info = path.lstat()
            except FileNotFoundError:  # removed as we walked: an unused logo
                continue
            if path.is_symlink() or not path.is_file():
                continue
            found[path.relative_to(folder).as_posix()] = (info.st_size, info.st_mtime_ns)
    return found


def _copy_uploads(folder: Path, staging: Path, seen: dict[str, tuple[int, int]]) -> None:
    """Copy into ``staging`` the files of ``folder`` not yet copied as they are now.

    A hard link where the disk allows it: logos are never rewritten once stored, so a link holds
    the file as the database names it, costs no copy, and survives the clean-up of unused logos.
    """
    for relative, stamp in _upload_files(folder).items():
        if seen.get(relative) == stamp:
            continue
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # changed since the first pass: take it again
        try:
            try:
                os.link(folder / relative, target)
            except OSError as exc:
                if isinstance(exc, FileNotFoundError):
                    raise
                shutil.copyfile(folder / relative, target)  # another disk, or links refused
        except FileNotFoundError:  # an unused logo removed meanwhile
            continue
        seen[relative] = stamp


def _snapshot_sqlite(target: Path) -> str | None:
    """Copy the SQLite database into ``target`` with the online-backup API; its revision."""
    source_path = _sqlite_path()
    if not source_path.is_file():
        raise BackupError(f"The SQLite database {source_path} does not exist.")
    source = sqlite3.connect(source_path, timeout=30)
    copy = sqlite3.connect(target)
    try:
        # pages=-1: the whole database in one step, under one read snapshot. Copied a few pages
        # at a time, every write by another connection would restart the copy.
        source.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        stamped = copy.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
        revision = _alembic_revision(copy.execute) if stamped else None
    except sqlite3.Error as exc:
        raise BackupError(f"The SQLite backup failed: {exc}") from None
    finally:
        copy.close()
        source.close()
    return revision


def _snapshot_postgresql(target: Path) -> str | None:
    """Dump the PostgreSQL database into ``target`` with pg_dump (custom format); its revision."""
    program = find_pg_program("pg_dump")
    try:
        with db.engine.connect() as connection:
            stamped = sa.inspect(connection).has_table("alembic_version")
            revision = _alembic_revision(connection.exec_driver_sql) if stamped else None
    except sa.exc.OperationalError as exc:
        raise BackupError(f"Cannot connect to the database: {exc.orig}") from None
    uri, env = _libpq(db.engine.url)
    _run_pg(
        program,
        ["--format=custom", "--no-password", f"--file={target}", f"--dbname={uri}"],
        env,
        "pg_dump",
    )
    return revision


class _HashingReader:
    """Reads a file for tarfile and hashes exactly the bytes it hands over."""

    def __init__(self, stream):
        self.stream = stream
        self.digest = hashlib.sha256()

    def read(self, size=-1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        return data


def _tar_member(tar: tarfile.TarFile, source: Path, name: str, mode: int) -> dict:
    """Add ``source`` as ``name``, reading it once; its manifest entry (path, size, sha256).

    The size is taken from the open file, and exactly that many bytes are archived and hashed,
    so a logo still being written (one no committed row names yet) is archived as far as it
    goes and its entry matches what the archive holds.
    """
    with open(source, "rb") as stream:
        stat = os.fstat(stream.fileno())
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), mode
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        reader = _HashingReader(stream)
        tar.addfile(info, reader)
    return {"path": name, "size": info.size, "sha256": reader.digest.hexdigest()}


@operation
def backup(path, *, force: bool = False) -> BackupResult:
    """Write one archive at ``path`` holding the database and the upload folder.

    The archive is written to a temporary file beside ``path`` and renamed into place, so
    ``path`` is either the whole archive or untouched. An existing ``path`` is refused unless
    ``force``. Raises BackupError when it cannot be made.
    """
    started = time.perf_counter()
    path = Path(path).absolute()
    if path.is_dir():
        raise BackupError(f"{path} is a folder: give the archive's file name (….tar.gz).")
    if path.exists() and not force:
        raise BackupError(f"{path} already exists; use --force to replace it.")
    if not path.parent.is_dir():
        raise BackupError(f"The folder {path.parent} does not exist.")
    kind = database_kind()
    folder = Path(current_app.config["UPLOAD_FOLDER"]).absolute()
    if path.parent.resolve().is_relative_to(folder.resolve()):
        raise BackupError(
            f"Write the archive outside the upload folder {folder}: it would be backed up "
            "inside the next archive."
        )
    db.session.remove()  # nothing of this process's session is in the copy

    try:
        staging_dir = tempfile.TemporaryDirectory(prefix=".allies-backup-", dir=path.parent)
    except OSError as exc:
        raise BackupError(f"Cannot write in {path.parent}: {exc}") from None
    with staging_dir as staging_name:
        staging = Path(staging_name)
        uploads = staging / UPLOADS
        uploads.mkdir()
        seen: dict[str, tuple[int, int]] = {}
        _copy_uploads(folder, uploads, seen)  # before: a logo unused since is still here
        database_file = staging / DATABASE_MEMBERS[kind]
        database_file.parent.mkdir()
        snapshot = _snapshot_sqlite if kind == "sqlite" else _snapshot_postgresql
        revision = snapshot(database_file)
        _copy_uploads(folder, uploads, seen)  # after: every logo the snapshot names

        members = [(DATABASE_MEMBERS[kind], database_file, 0o600)] + [
            (f"{UPLOADS}/{relative}", uploads / relative, 0o644) for relative in sorted(seen)
        ]
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "database": kind,
            "alembic_revision": revision,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "app_version": app_version(),
            "files": [],  # filled in as each file is archived
        }
        _write_atomically(path, force, members, manifest)
    return BackupResult(
        path=path,
        kind=kind,
        revision=revision,
        uploads=len(seen),
        size=path.stat().st_size,
        seconds=time.perf_counter() - started,
    )


def _write_atomically(path: Path, force: bool, members, manifest: dict) -> None:
    """Write the tar.gz to a temporary file beside ``path``, then rename it into place.

    The manifest goes last, listing every member with the size and sha256 of the bytes that
    were archived.
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as raw:
            # Logos and pg_dump's output are compressed already; level 6 spends little on them.
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                for name, source, mode in members:
                    try:
                        manifest["files"].append(_tar_member(tar, source, name, mode))
                    except OSError as exc:  # a file shrank as it was read: nothing uses it
                        raise BackupError(
                            f"{name} changed while it was archived ({exc}); run the backup again."
                        ) from None
                data = (json.dumps(manifest, indent=2) + "\n").encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                tar.addfile(info, io.BytesIO(data))
            raw.flush()
            os.fsync(raw.fileno())
        if force:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # fails if a file appeared at path meanwhile
            except FileExistsError:
                raise BackupError(f"{path} already exists; use --force to replace it.") from None
            os.unlink(temporary)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


# --- reading an archive -----------------------------------------------------------------------


def _safe_member_name(name: str) -> bool:
    """Whether ``name`` is a relative path that stays inside the folder it is extracted into."""
    pure = PurePosixPath(name)
    return (
        bool(name)
        and "\\" not in name
        and not pure.is_absolute()
        and all(part not in ("", ".", "..") for part in name.split("/"))
    )


def _open_archive(path: Path) -> tuple[tarfile.TarFile, dict]:
    """Open ``path`` and check its manifest and member list; the caller closes the tar."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist.")
    try:
        tar = tarfile.open(path, mode="r:gz")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"{path} is not an Allies backup (a tar.gz archive): {exc}") from None
    try:
        members = tar.getmembers()
        manifest_member = next((m for m in members if m.name == MANIFEST), None)
        if manifest_member is None or not manifest_member.isfile():
            raise BackupError(f"{path} is not an Allies backup: it has no {MANIFEST}.")
        manifest = json.load(io.BytesIO(tar.extractfile(manifest_member).read()))
    except BackupError:
        tar.close()
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as exc:
        tar.close()
        raise BackupError(f"{path} is damaged or not an Allies backup: {exc}") from None
    try:
        _check_manifest(manifest, members)
    except BackupError:
        tar.close()
        raise
    return tar, manifest


def _check_manifest(manifest, members: list[tarfile.TarInfo]) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("The archive is not an Allies backup (its manifest says otherwise).")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BackupError(
            f"The archive is in backup format {version!r}; this Allies reads format "
            f"{FORMAT_VERSION}. Restore it with the Allies version that made it "
            f"({manifest.get('app_version', 'unknown')})."
        )
    kind = manifest.get("database")
    files = manifest.get("files")
    if kind not in DATABASE_MEMBERS or not isinstance(files, list):
        raise BackupError("The archive's manifest is incomplete (database kind or file list).")
    listed = {}
    for entry in files:
        name = entry.get("path") if isinstance(entry, dict) else None
        if (
            not isinstance(name, str)
            or not _safe_member_name(name)
            or not (name == DATABASE_MEMBERS[kind] or name.startswith(f"{UPLOADS}/"))
            or not isinstance(entry.get("sha256"), str)
            or not isinstance(entry.get("size"), int)
            or name in listed
        ):
            raise BackupError(f"The archive's manifest lists an unsafe or invalid file: {name!r}.")
        listed[name] = entry
    if DATABASE_MEMBERS[kind] not in listed:
        raise BackupError("The archive's manifest lists no database.")
    in_archive = set()
    for member in members:
        if member.name == MANIFEST:
            continue
        if not member.isfile() or member.name not in listed or member.name in in_archive:
            raise BackupError(
                f"The archive holds {member.name!r}, which its manifest does not list as a file; "
                "nothing was restored."
            )
        # Checked before anything is extracted: a member larger than its manifest says could
        # otherwise fill the disk before the checksums are read.
        if member.size != listed[member.name]["size"]:
            raise BackupError(
                f"The archive's {member.name} is {member.size} bytes but its manifest says "
                f"{listed[member.name]['size']}: the archive is damaged. Nothing was changed."
            )
        in_archive.add(member.name)
    missing = set(listed) - in_archive
    if missing:
        raise BackupError(f"The archive lacks files its manifest lists: {sorted(missing)[:5]}.")


def read_manifest(path) -> dict:
    """The checked manifest of the archive at ``path``. Raises BackupError."""
    tar, manifest = _open_archive(Path(path))
    tar.close()
    return manifest


# --- restore ----------------------------------------------------------------------------------


def _sqlite_tables(path: Path) -> list[str]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    connection = sqlite3.connect(path, timeout=30)
    try:
        return [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"The target {path} is not an empty SQLite database: {exc}") from None
    finally:
        connection.close()


def _postgresql_tables() -> list[str]:
    query = sa.text(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' "
        "ORDER BY 1"
    )
    try:
        with db.engine.connect() as connection:
            return list(connection.scalars(query))
    except sa.exc.OperationalError as exc:
        raise BackupError(f"Cannot connect to the target database: {exc.orig}") from None


def _refuse_unless_empty(kind: str, folder: Path) -> None:
    """Refuse a target database with any table, and an upload folder with anything in it."""
    if kind == "sqlite":
        where, tables = str(_sqlite_path()), _sqlite_tables(_sqlite_path())
    else:
        where, tables = db.engine.url.render_as_string(hide_password=True), _postgresql_tables()
    if tables:
        shown = ", ".join(tables[:5]) + (" …" if len(tables) > 5 else "")
        raise BackupError(
            f"The target database {where} is not empty (it has {len(tables)} tables, views "
            f"or sequences: {shown}). "
            "Restore only into an empty database: create a new one (PostgreSQL: createdb; "
            "SQLite: a new file in DATABASE_URL or an empty instance folder) and run restore "
            "again. Nothing was changed."
        )
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(
            f"The upload folder {folder} is not empty. Restore only into an empty upload "
            "folder: move its files away and run restore again. Nothing was changed."
        )


def _verify(staging: Path, manifest: dict) -> None:
    for entry in manifest["files"]:
        file = staging / entry["path"]
        if file.stat().st_size != entry["size"] or _sha256(file) != entry["sha256"]:
            raise BackupError(
                f"The archive's {entry['path']} does not match its checksum: the archive is "
                "damaged. Nothing was changed."
            )


def _restore_sqlite(source: Path) -> None:
    target = _sqlite_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    copy = sqlite3.connect(source)
    try:
        check = copy.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"The archived SQLite database is damaged: {check}")
        # The backup API in reverse writes through SQLite, so a WAL file or a connection the
        # target may already have sees a consistent database, never a file swapped under it.
        destination = sqlite3.connect(target, timeout=30)
        try:
            copy.backup(destination, pages=-1)
        finally:
            destination.close()
    except sqlite3.Error as exc:
        raise BackupError(f"The SQLite restore failed: {exc}") from None
    finally:
        copy.close()


def _restore_postgresql(source: Path) -> None:
    program = find_pg_program("pg_restore")
    uri, env = _libpq(db.engine.url)
    _run_pg(
        program,
        [
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            f"--dbname={uri}",
            str(source),
        ],
        env,
        "pg_restore",
    )


def _place_uploads(staging: Path, folder: Path, names: list[str]) -> list[Path]:
    placed: list[Path] = []
    try:
        for name in names:
            target = folder / name[len(UPLOADS) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staging / name, target)
            placed.append(target)
    except OSError as exc:
        _remove(placed, folder)
        raise BackupError(
            f"Could not write the logos into {folder}: {exc}. Nothing was kept."
        ) from None
    return placed


def _remove(placed: list[Path], folder: Path) -> None:
    """Take back the files a failed restore placed in the (formerly empty) upload folder."""
    for path in placed:
        path.unlink(missing_ok=True)
    for root, _dirs, _files in sorted(os.walk(folder), reverse=True):
        if Path(root) != folder:
            try:
                os.rmdir(root)
            except OSError:
                pass


@operation
def restore(path) -> RestoreResult:
    """Restore the archive at ``path`` into the configured (empty) database and upload folder.

    Refuses, changing nothing, an archive that is damaged or unsafe (a member outside its
    folder, a checksum that differs), made from another kind of database, or a target database
    with any table or an upload folder with anything in it. Raises BackupError.
    """
    started = time.perf_counter()
    path = Path(path).absolute()
    kind = database_kind()
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    db.session.remove()
    tar, manifest = _open_archive(path)
    with tar:
        if manifest["database"] != kind:
            raise BackupError(
                f"The archive holds a {KIND_NAMES[manifest['database']]} database and this "
                f"instance uses {KIND_NAMES[kind]}. Restore it into a {KIND_NAMES[manifest['database']]} "
                "database; moving between SQLite and PostgreSQL is not supported by backup "
                "and restore."
            )
        _refuse_unless_empty(kind, folder)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            # Beside the upload folder, so placing the logos is a rename on the same disk.
            staging_dir = tempfile.TemporaryDirectory(prefix=".allies-restore-", dir=folder.parent)
        except OSError as exc:
            raise BackupError(f"Cannot write in {folder.parent}: {exc}") from None
        with staging_dir as staging_name:
            staging = Path(staging_name)
            needed = sum(entry["size"] for entry in manifest["files"])
            free = shutil.disk_usage(staging).free
            if needed > free:
                raise BackupError(
                    f"The archive unpacks to {needed} bytes and {staging.parent} has {free} free. "
                    "Nothing was changed."
                )
            try:
                tar.extractall(staging, filter="data")
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise BackupError(
                    f"The archive could not be read: {exc}. Nothing was changed."
                ) from None
            _verify(staging, manifest)
            uploads = sorted(
                e["path"] for e in manifest["files"] if e["path"].startswith(f"{UPLOADS}/")
            )
            placed = _place_uploads(staging, folder, uploads)
            try:
                database_file = staging / DATABASE_MEMBERS[kind]
                if kind == "sqlite":
                    _restore_sqlite(database_file)
                else:
                    _restore_postgresql(database_file)
            except BackupError:
                _remove(placed, folder)
                raise
    db.engine.dispose()  # connections opened before the restore see the restored schema afresh
    return RestoreResult(
        kind=kind,
        revision=manifest.get("alembic_revision"),
        head=head_revision(),
        uploads=len(placed),
        created_at=str(manifest.get("created_at", "")),
        app_version=str(manifest.get("app_version", "unknown")),
        seconds=time.perf_counter() - started,
    )
