"""The alliance's own logo (issue 12): uploaded by admins on the settings page with the checks of
an Ally's logo, shown in the header, on emails and as the favicon, audited, removable."""

import io
import os
import re
import time

import sqlalchemy as sa

from allies.extensions import db
from allies.staff.models import AuditEvent
from allies.staff.settings import get_setting
from tests.fixtures import png_bytes


def _upload(client, payload: bytes, filename: str = "logo.png"):
    return client.post(
        "/staff/settings/logo",
        data={"logo": (io.BytesIO(payload), filename)},
        content_type="multipart/form-data",
    )


def _logo(app) -> str:
    with app.app_context():
        return get_setting("alliance_logo")


def _events(app) -> list[tuple[str, dict]]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action.like("alliance_logo%"))
            .order_by(AuditEvent.id)
        )
        return [(row.action, row.changes, row.actor) for row in rows]


def test_an_admin_uploads_the_logo_and_it_is_shown_everywhere(app, client, auth, factory):
    anonymous = app.test_client()
    before = anonymous.get("/")
    assert before.status_code == 200 and "brand-mark" in before.get_data(as_text=True)

    auth.login("admin")
    settings_page = client.get("/staff/settings").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in settings_page
    assert '<label class="label" for="logo">Alliance logo</label>' in settings_page

    response = _upload(client, png_bytes((1600, 400)))
    assert response.status_code == 302
    name = _logo(app)
    assert re.fullmatch(r"[0-9a-f]{32}\.png", name)
    assert os.path.isfile(os.path.join(app.config["UPLOAD_FOLDER"], name))
    [(action, changes, actor)] = _events(app)
    assert action == "alliance_logo_changed" and changes == {"alliance_logo": [None, name]}
    assert actor.startswith("Admin")
    assert "The alliance&#39;s logo is saved." in client.get("/staff/settings").get_data(
        as_text=True
    )

    # The header, the favicon and a shared link's preview, on the public pages: the content
    # version moved, so the cached home page is not the one from before.
    home = anonymous.get("/", headers={"If-None-Match": before.headers["ETag"]})
    assert home.status_code == 200
    html = home.get_data(as_text=True)
    assert (
        f'<img class="brand-logo" src="/logos/{name}" alt="Social Mission Alliance" height="40">'
        in html
    )
    assert "brand-mark" not in html
    assert f'<link rel="icon" href="/logos/{name}">' in html
    icon = anonymous.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/png"
    assert icon.data.startswith(b"\x89PNG")
    allies = anonymous.get("/allies").get_data(as_text=True)
    assert f'<meta property="og:image" content="http://allies.test/logos/{name}">' in allies

    # Emails: an absolute address on the public base URL (an applicant's acknowledgement).
    factory.application(email="ada@example.org")
    with app.app_context():
        from allies.mail.models import OutboxMessage

        html = db.session.scalar(
            sa.select(OutboxMessage.body_html).where(OutboxMessage.to_addr == "ada@example.org")
        )
    assert f'<img src="http://allies.test/logos/{name}" alt="Social Mission Alliance"' in html


def test_a_bad_file_is_refused_with_a_message_next_to_the_field(app, client, auth):
    auth.login("admin")
    for payload, filename, message in (
        (b"not an image at all", "logo.png", "The logo must be a PNG, JPEG or WebP image."),
        (b"GIF89a" + b"\x00" * 40, "logo.gif", "The logo must be a PNG, JPEG or WebP image."),
        (b"", "", "Choose an image file to upload."),
    ):
        response = _upload(client, payload, filename)
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert re.search(
            r'<p class="error-message" id="logo-error"><span>' + re.escape(message), html
        ), message
        assert 'aria-invalid="true"' in html and 'aria-describedby="logo-hint logo-error"' in html
        # The settings form beside it still shows what is saved.
        assert 'value="Social Mission Alliance"' in html
    assert _logo(app) == ""
    assert _events(app) == []
    assert os.listdir(app.config["UPLOAD_FOLDER"]) == []


def test_the_logo_is_removed_and_the_defaults_return(app, client, auth):
    auth.login("admin")
    assert _upload(client, png_bytes()).status_code == 302
    name = _logo(app)
    response = client.post("/staff/settings/logo/remove")
    assert response.status_code == 302
    assert _logo(app) == ""
    assert [(a, c) for a, c, _ in _events(app)] == [
        ("alliance_logo_changed", {"alliance_logo": [None, name]}),
        ("alliance_logo_removed", {"alliance_logo": [name, None]}),
    ]
    anonymous = app.test_client()
    html = anonymous.get("/").get_data(as_text=True)
    assert "brand-logo" not in html and "brand-mark" in html
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in html
    assert anonymous.get("/favicon.ico").mimetype == "image/svg+xml"
    # Nothing left to remove: said so, and nothing audited.
    client.post("/staff/settings/logo/remove")
    assert "There is no logo to remove." in client.get("/staff/settings").get_data(as_text=True)
    assert len(_events(app)) == 2


def test_a_reviewer_cannot_change_the_logo(app, client, auth):
    auth.login("reviewer")
    assert _upload(client, png_bytes()).status_code == 403
    assert client.post("/staff/settings/logo/remove").status_code == 403
    assert client.get("/staff/settings").status_code == 403
    assert _logo(app) == ""


def test_the_settings_page_offers_the_embed_snippet(app, client, auth):
    auth.login("admin")
    html = client.get("/staff/settings").get_data(as_text=True)
    snippet = re.search(
        r'<label class="label" for="embed-snippet">Code to copy</label>\s*'
        r'<textarea id="embed-snippet" class="snippet" rows="4" readonly>([^<]*)</textarea>',
        html,
    )
    assert snippet, "a labelled, read-only snippet"
    assert snippet.group(1).startswith(
        "&lt;iframe src=&#34;http://allies.test/embed/allies&#34; "
        "title=&#34;Allies of the Social Mission Alliance&#34;"
    ) or snippet.group(1).startswith(
        '&lt;iframe src="http://allies.test/embed/allies" '
        'title="Allies of the Social Mission Alliance"'
    )


def test_the_alliance_logo_is_not_an_orphan(app, client, auth):
    from allies.organizations.operations import remove_orphan_logos

    auth.login("admin")
    assert _upload(client, png_bytes()).status_code == 302
    name = _logo(app)
    path = os.path.join(app.config["UPLOAD_FOLDER"], name)
    old = time.time() - 2 * 86400
    os.utime(path, (old, old))
    with app.app_context():
        assert remove_orphan_logos() == 0
    assert os.path.isfile(path)
