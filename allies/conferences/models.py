"""The alliance's conference archive."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from allies.extensions import db


class Conference(db.Model):
    """A past (or planned) conference: year, theme, place and attendance."""

    __tablename__ = "conference"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(index=True)
    theme: Mapped[str] = mapped_column(String(300))
    place: Mapped[str] = mapped_column(String(200))
    attendance: Mapped[str] = mapped_column(String(60), default="")
