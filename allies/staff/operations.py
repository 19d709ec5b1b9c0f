"""Every change to staff accounts, and staff sign-in."""

from email_validator import EmailNotValidError, validate_email

from allies.errors import OperationError, operation
from allies.extensions import db
from allies.staff.audit import record_event
from allies.staff.models import ROLES, StaffUser
from allies.staff.sign_in_limits import clear_account, clear_address
from allies.timeutil import utcnow

MIN_PASSWORD_LENGTH = 10
# Checked against when the email is unknown, so both failures take the same time.
_DUMMY_USER = StaffUser(email="", password_hash="")
_DUMMY_USER.set_password("not-a-real-password")


def _clean_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise OperationError(f"Enter a valid email address ({exc}).") from None


@operation
def create_staff_user(*, email: str, name: str, role: str, password: str, staff) -> StaffUser:
    """Create a staff account. Commits; ``staff`` is the admin acting (None from the CLI)."""
    email = _clean_email(email)
    if role not in ROLES:
        raise OperationError("Choose a role: reviewer or admin.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperationError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if db.session.scalar(db.select(StaffUser.id).where(StaffUser.email == email)):
        raise OperationError("A staff account with this email already exists.")
    user = StaffUser(email=email, name=name.strip(), role=role)
    user.set_password(password)
    db.session.add(user)
    record_event(user, "staff_created", staff=staff, actor=None if staff else "cli", to_state=role)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> StaffUser | None:
    """The enabled staff user with these credentials, or None (same work either way)."""
    user = db.session.scalar(
        db.select(StaffUser).where(StaffUser.email == (email or "").strip().lower())
    )
    if user is None:
        _DUMMY_USER.check_password(password or "")
        return None
    if not user.check_password(password or "") or not user.is_enabled:
        return None
    user.last_sign_in_at = utcnow()
    db.session.commit()
    return user


def end_sessions(user: StaffUser) -> None:
    """Invalidate every session and remember cookie of ``user``. Commits."""
    user.session_version += 1
    db.session.commit()


def unlock_sign_in(user: StaffUser, *, staff=None, address: str | None = None) -> int:
    """Clear ``user``'s failed sign-in counters from every address, and those of ``address``
    (any account) if given; audited. Commits; returns how many counters were cleared.

    ``staff`` is the admin acting (None from the CLI).
    """
    cleared = clear_account(user.email) + (clear_address(address) if address else 0)
    record_event(
        user,
        "staff_sign_in_unlocked",
        staff=staff,
        actor=None if staff else "cli",
        reason=f"{cleared} failed sign-in counters cleared"
        + (f", with those of address {address}" if address else ""),
    )
    db.session.commit()
    return cleared


@operation
def update_staff_user(user: StaffUser, *, name: str, role: str, enabled: bool, staff) -> None:
    """An admin changes a staff account's name, role or access. Commits."""
    if role not in ROLES:
        raise OperationError("Choose a role: reviewer or admin.")
    if user.id == staff.id and (role != "admin" or not enabled):
        raise OperationError("You cannot remove your own admin access.")
    before = f"{user.role}{'' if user.is_enabled else ' (disabled)'}"
    user.name = name.strip()
    user.role = role
    if user.is_enabled and not enabled:
        user.session_version += 1  # disabling ends every session at once
    user.is_enabled = enabled
    after = f"{user.role}{'' if user.is_enabled else ' (disabled)'}"
    record_event(user, "staff_updated", staff=staff, from_state=before, to_state=after)
    db.session.commit()


@operation
def set_staff_password(user: StaffUser, password: str, *, staff) -> None:
    """Set a new password for ``user`` and end their other sessions. Commits."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperationError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    user.set_password(password)
    user.session_version += 1
    record_event(user, "password_changed", staff=staff)
    db.session.commit()


def save_settings(values: dict, *, staff) -> None:
    """An admin saves alliance settings; each change is audited. Commits."""
    from allies.staff.settings import all_settings, set_setting

    before = all_settings()
    for key, value in values.items():
        if before.get(key) != value:
            set_setting(key, value)
            record_event(
                None,
                "setting_changed",
                subject_type="setting",
                staff=staff,
                from_state=str(before.get(key))[:40],
                to_state=str(value)[:40],
                reason=key,
                changes={key: [before.get(key), value]},
            )
    db.session.commit()


def set_alliance_logo(logo, *, staff) -> str:
    """Store a prepared logo (``organizations.profile.prepare_logo``) as the alliance's own,
    shown in the header, on emails and as the favicon; audited. Commits; returns its file name.

    The file replaced stays until ``remove_orphan_logos`` clears it, so a page or email still
    showing it keeps working meanwhile.
    """
    from allies.organizations.profile import save_logo

    name = save_logo(logo)
    _change_alliance_logo(name, "alliance_logo_changed", staff)
    return name


def remove_alliance_logo(*, staff) -> bool:
    """Take the alliance's logo down (the initials and the default icon return); audited.
    Commits; False when there was none."""
    return _change_alliance_logo("", "alliance_logo_removed", staff)


def _change_alliance_logo(name: str, action: str, staff) -> bool:
    from allies.staff.settings import get_setting, set_setting

    before = get_setting("alliance_logo")
    if before == name:
        return False
    set_setting("alliance_logo", name)
    record_event(
        None,
        action,
        subject_type="setting",
        staff=staff,
        from_state=(before or None) and before[:40],
        to_state=(name or None) and name[:40],
        reason="alliance_logo",
        changes={"alliance_logo": [before or None, name or None]},
    )
    db.session.commit()
    return True


@operation
def add_organization_type(name: str, *, staff):
    """Add an organization type at the end of the list. Commits."""
    from allies.organizations.models import OrganizationType

    name = name.strip()
    exists = db.session.scalar(
        db.select(OrganizationType).where(db.func.lower(OrganizationType.name) == name.lower())
    )
    if exists is not None:
        raise OperationError("That type already exists.")
    position = db.session.scalar(db.select(db.func.max(OrganizationType.position))) or 0
    org_type = OrganizationType(name=name, position=position + 1)
    db.session.add(org_type)
    record_event(
        org_type, "type_added", staff=staff, to_state=name[:40], changes={"name": [None, name]}
    )
    db.session.commit()
    return org_type


def set_organization_type_enabled(org_type, enabled: bool, *, staff) -> None:
    """Hide a type from the form (Allies keep it) or show it again. Commits."""
    changes = {"is_enabled": [org_type.is_enabled, enabled]}
    org_type.is_enabled = enabled
    record_event(
        org_type, "type_enabled" if enabled else "type_disabled", staff=staff, changes=changes
    )
    db.session.commit()
