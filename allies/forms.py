"""The base of every form: text is cleaned of control characters before validation."""

import re

from flask_wtf import FlaskForm

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_control_characters(value):
    """Drop control characters (NUL and friends) that no person types; keep tabs and newlines."""
    return _CONTROL.sub("", value) if isinstance(value, str) else value


def single_line(value):
    """One-line fields (names, titles) lose line breaks, which would break email headers."""
    return " ".join(value.splitlines()) if isinstance(value, str) else value


class BaseForm(FlaskForm):
    """FlaskForm whose text fields all pass through strip_control_characters."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = list(unbound_field.kwargs.get("filters", ()))
            kind = unbound_field.field_class.__name__
            if kind in ("StringField", "TextAreaField", "EmailField"):
                filters.append(strip_control_characters)
            if kind in ("StringField", "EmailField"):
                filters.append(single_line)
            options["filters"] = filters
            return unbound_field.bind(form=form, **options)
