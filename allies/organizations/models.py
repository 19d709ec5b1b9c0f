"""Organizations (the Ally's public profile), their types and their contacts."""

from datetime import date, datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from allies.extensions import db
from allies.staff.search_documents import CONTACT_DOCUMENT, ORGANIZATION_DOCUMENT, search_index
from allies.timeutil import utcnow

CONTACT_ROLES = ("primary", "signatory", "communications")
DESCRIPTION_MAX = 500


class OrganizationType(db.Model):
    """A kind of organization (admin-editable list shown on the form and as a filter)."""

    __tablename__ = "organization_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    is_enabled: Mapped[bool] = mapped_column(default=True)


class Organization(db.Model):
    """An organization that applied or is an Ally; these fields are its public profile."""

    __tablename__ = "organization"
    # Staff search's full-text document (PostgreSQL only; see allies/staff/search_documents.py).
    __table_args__ = (search_index("ix_organization_search", ORGANIZATION_DOCUMENT),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(140), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    normalized_name: Mapped[str] = mapped_column(String(200), index=True)
    website: Mapped[str] = mapped_column(String(500))
    website_domain: Mapped[str] = mapped_column(String(255), index=True)
    type_id: Mapped[int | None] = mapped_column(db.ForeignKey("organization_type.id"))
    city: Mapped[str] = mapped_column(String(120), default="")
    region: Mapped[str] = mapped_column(String(120), default="")
    country: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    logo_filename: Mapped[str | None] = mapped_column(String(80))
    # Set for Allies brought in by a roster import: their membership began before Allies held it.
    # Otherwise "Ally since" is the year of the first term.
    ally_since: Mapped[date | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    type = relationship("OrganizationType")
    contacts = relationship(
        "Contact", back_populates="organization", order_by="Contact.id", cascade="all"
    )

    @property
    def place(self) -> str:
        """City, region and country joined for display."""
        return ", ".join(part for part in (self.city, self.region, self.country) if part)

    def contact_for(self, role: str):
        """The first contact with ``role``, falling back to the primary contact."""
        for wanted in (role, "primary"):
            for contact in self.contacts:
                if contact.role == wanted and contact.is_enabled:
                    return contact
        return None


class Contact(db.Model):
    """A person at an organization; never shown publicly."""

    __tablename__ = "contact"
    __table_args__ = (search_index("ix_contact_search", CONTACT_DOCUMENT),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(db.ForeignKey("organization.id"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="primary")
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), index=True)
    phone: Mapped[str] = mapped_column(String(60), default="")
    is_enabled: Mapped[bool] = mapped_column(default=True)
    # Carried in the contact's session cookie: moving it signs every session out (allies/sessions.py).
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the person asked to be forgotten: name, email and phone are pseudonyms since.
    erased_at: Mapped[datetime | None] = mapped_column(default=None)
    # The language of the pages they applied, renewed or answered in: every email to them is
    # written in it (allies/i18n.py).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")

    organization = relationship("Organization", back_populates="contacts")

    def end_sessions(self) -> None:
        """Sign this contact out everywhere: every session begun before stops working (staged)."""
        self.session_version = (self.session_version or 1) + 1

    @validates("email")
    def _new_email_ends_sessions(self, _key: str, email: str) -> str:
        """A session belongs to the address its link was sent to: a new address ends them all."""
        if self.id is not None and email != self.email:
            self.end_sessions()
        return email


class OrganizationNote(db.Model):
    """A staff-only note on an organization: dated, signed, never shown publicly."""

    __tablename__ = "organization_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(db.ForeignKey("organization.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff_user.id"))
    author: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization = relationship("Organization")
    staff = relationship("StaffUser")


class SignInLink(db.Model):
    """A single-use emailed link for a contact; the URL token is signed and carries this nonce."""

    __tablename__ = "sign_in_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    contact_id: Mapped[int] = mapped_column(db.ForeignKey("contact.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20), default="sign-in")
    agreement_id: Mapped[int | None] = mapped_column(db.ForeignKey("agreement.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(default=None)

    contact = relationship("Contact")
