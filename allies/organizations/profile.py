"""Rules about an organization's public profile: names, websites, slugs and logos."""

import io
import re
import secrets
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from allies.extensions import db

LOGO_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
# Decoding more pixels than this is refused before it can exhaust memory (a decompression bomb).
LOGO_MAX_PIXELS = 40_000_000
_NAME_NOISE = re.compile(r"\b(the|inc|llc|ltd|co|corp|corporation|incorporated)\b")


class LogoError(ValueError):
    """A logo that cannot be accepted; the message is shown next to the field."""


def normalize_name(name: str) -> str:
    """A comparison key for organization names: case, accents, punctuation and "The" ignored."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ")
    text = re.sub(r"\([^)]*\)", " ", text)  # "(AAFP)" abbreviations
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = _NAME_NOISE.sub(" ", text)
    return " ".join(text.split())


def website_domain(url: str) -> str:
    """The host of ``url`` without ``www.``, lower-cased: two sites on one domain are one org."""
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def clean_website(url: str) -> str:
    """Validate a website address: http(s) with a host; returns it trimmed, raises ValueError."""
    url = (url or "").strip()
    if any(ord(ch) < 33 for ch in url):
        raise ValueError(_("A web address cannot contain spaces or control characters."))
    if "://" not in url and not url.lower().startswith(("javascript:", "data:", "vbscript:")):
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(_("The website must start with http:// or https://."))
    host = parts.hostname or ""
    if not host or "." not in host or not re.fullmatch(r"[A-Za-z0-9.-]+", host):
        raise ValueError(_("Enter a full web address, such as https://example.org."))
    return url


def unique_slug(name: str, model, *, random_suffix: bool = False) -> str:
    """A URL slug for ``name`` not yet used by ``model``'s ``slug`` column.

    ``random_suffix`` avoids the numbered slugs that concurrent requests would all pick.
    """
    base = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", name).lower()).strip("-")
    base = (base or "ally")[:100]
    if random_suffix:
        base = f"{base}-{secrets.token_hex(3)}"
    slug, n = base, 1
    while db.session.scalar(db.select(model.id).where(model.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


@dataclass(frozen=True)
class PreparedLogo:
    """A verified, re-encoded logo held in memory until it is stored."""

    data: bytes
    extension: str


def prepare_logo(stream) -> PreparedLogo:
    """Verify an uploaded logo and re-encode it (metadata dropped, long side capped) in memory.

    Writes nothing; raises LogoError with a message for the user.
    """
    max_bytes = current_app.config["LOGO_MAX_BYTES"]
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise LogoError(
            _("The logo must be %(size)s MB or smaller.", size=max_bytes // (1024 * 1024))
        )
    if not data:
        raise LogoError(_("The logo file is empty."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = LOGO_MAX_PIXELS
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                if fmt not in LOGO_FORMATS:
                    raise LogoError(_("The logo must be a PNG, JPEG or WebP image."))
                if probe.width * probe.height > LOGO_MAX_PIXELS:
                    raise LogoError(_("The logo's dimensions are too large."))
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                image.thumbnail((current_app.config["LOGO_MAX_SIDE"],) * 2)
                if fmt == "JPEG" and image.mode not in ("RGB", "L"):
                    image = image.convert("RGB")
                elif image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                    image = image.convert("RGBA")
                # Pillow would copy comments, EXIF and profiles from ``info`` into the new file.
                image.info = {}
                out = io.BytesIO()
                image.save(out, format=fmt)
    except LogoError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LogoError(_("The logo must be a PNG, JPEG or WebP image.")) from None
    except (OSError, SyntaxError, ValueError):
        raise LogoError(_("The logo file is damaged or incomplete.")) from None
    return PreparedLogo(out.getvalue(), LOGO_FORMATS[fmt])


def save_logo(logo: PreparedLogo) -> str:
    """Store a prepared logo under a new random name, which it returns."""
    name = f"{secrets.token_hex(16)}.{logo.extension}"
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(logo.data)
    return name


def logo_path(name: str) -> Path | None:
    """The stored file for a logo name, or None if the name is not one we generate."""
    if not re.fullmatch(r"[0-9a-f]{32}\.(png|jpg|webp)", name or ""):
        return None
    path = Path(current_app.config["UPLOAD_FOLDER"]) / name
    return path if path.is_file() else None
