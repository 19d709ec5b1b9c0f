"""/staff/export: the page of downloads, and each download (CSV tables, the JSON dump).

Reviewers take the Allies, agreements and applications tables, which they already see page by
page; contacts (people's names, emails and phones in bulk) and the whole-programme dump are for
admins. Each download is audited before it streams.
"""

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_login import current_user

from allies.csv_export import csv_response
from allies.staff import exports
from allies.staff.access import admin_required, staff_required
from allies.timeutil import alliance_today

bp = Blueprint("exports", __name__, url_prefix="/staff/export")


def _audited(kind: str) -> str:
    """Record that the signed-in staff member takes ``kind`` now; the file's name."""
    filename = exports.export_filename(kind, alliance_today())
    exports.record_download(kind, filename, staff=current_user, ip=request.remote_addr)
    return filename


@bp.get("")
@staff_required
def index():
    """The downloads, with who may take each."""
    today = alliance_today()
    downloads = [
        {
            "kind": kind,
            "title": title,
            "role": role,
            "filename": exports.export_filename(kind, today),
            "endpoint": "agreements.export_csv" if kind == "allies" else f"exports.{kind}",
        }
        for kind, (title, role) in exports.DOWNLOADS.items()
    ]
    return render_template(
        "staff/export.html", downloads=downloads, not_exported=exports.NOT_EXPORTED
    )


@bp.get("/agreements.csv")
@staff_required
def agreements():
    """Every agreement with its status."""
    filename = _audited("agreements")
    return csv_response(
        exports.AGREEMENTS_HEADER, exports.agreements_table(alliance_today()), filename
    )


@bp.get("/applications.csv")
@staff_required
def applications():
    """Every application and renewal."""
    filename = _audited("applications")
    return csv_response(exports.APPLICATIONS_HEADER, exports.applications_table(), filename)


@bp.get("/contacts.csv")
@admin_required
def contacts():
    """Every contact (admins only)."""
    filename = _audited("contacts")
    return csv_response(exports.CONTACTS_HEADER, exports.contacts_table(), filename)


@bp.get("/programme.json")
@admin_required
def programme():
    """Everything public and private about the programme, as JSON (admins only)."""
    filename = _audited("programme")
    return Response(
        stream_with_context(exports.programme_dump(alliance_today())),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
