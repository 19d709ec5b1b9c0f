"""The base of every form: text is cleaned of control characters before validation."""

import re

from flask_wtf import FlaskForm

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_control_characters(value):
    """Drop control characters (NUL and friends) that no person types; keep tabs and newlines."""
    return _CONTROL.sub("", value) if isinstance(value, str) else value


class BaseForm(FlaskForm):
    """FlaskForm whose text fields all pass through strip_control_characters."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = list(unbound_field.kwargs.get("filters", ()))
            if unbound_field.field_class.__name__ in ("StringField", "TextAreaField", "EmailField"):
                filters.append(strip_control_characters)
            options["filters"] = filters
            return unbound_field.bind(form=form, **options)
