"""Imports every model so the metadata (and Alembic) sees every table."""

from allies.agreements.models import Agreement  # noqa: F401
from allies.applications.models import (  # noqa: F401
    Application,
    ApplicationMessage,
    Endorsement,
    StatementVersion,
)
from allies.cache import ContentVersion  # noqa: F401
from allies.conferences.models import Conference  # noqa: F401
from allies.mail.models import OutboxMessage  # noqa: F401
from allies.organizations.models import (  # noqa: F401
    Contact,
    Organization,
    OrganizationNote,
    OrganizationType,
    SignInLink,
)
from allies.reminders.models import Reminder, SchedulerLease, StaffDigest, SweepRun  # noqa: F401
from allies.staff.models import AuditEvent, Setting, StaffUser  # noqa: F401
from allies.staff.ratelimit import RateLimitCounter  # noqa: F401
