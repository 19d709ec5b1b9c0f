"""The profile form checks a logo in memory; storing it is a separate, explicit step."""

import io
from pathlib import Path

from allies.organizations.forms import ProfileForm
from tests.fixtures import png_bytes


def _stored(app) -> list[str]:
    return sorted(path.name for path in Path(app.config["UPLOAD_FOLDER"]).iterdir())


def test_validating_a_logo_writes_no_file_until_the_view_keeps_it(app):
    data = {"name": "", "logo": (io.BytesIO(png_bytes()), "logo.png")}
    with app.test_request_context("/", method="POST", data=data):
        form = ProfileForm()
        assert form.validate() is False  # the name is missing
        assert "logo" not in form.errors
        assert _stored(app) == []
        form.keep_logo()
        assert _stored(app) == [form.logo_filename]
        assert form.accepted_logo.data  # the corrected form will not ask for it again


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_written(app):
    data = {"logo": (io.BytesIO(b"%PDF-1.4 not an image"), "logo.png")}
    with app.test_request_context("/", method="POST", data=data):
        form = ProfileForm()
        form.validate()
        assert form.errors["logo"] == ["The logo must be a PNG, JPEG or WebP image."]
        form.keep_logo()
    assert _stored(app) == []
