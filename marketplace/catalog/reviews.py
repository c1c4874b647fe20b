"""The evidence a package's card and its search rank stand on: verified buyers' reviews and
ratings (one review per accepted order line, counted into the package's rating) and the
pay-for-results contracts settled on verified measurements (met or missed)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from marketplace import audit
from marketplace.catalog import freshness, search_index
from marketplace.catalog.models import (
    Package,
    Review,
)
from marketplace.db import add_unique, db
from marketplace.errors import DomainError
from marketplace.security import Actor


def record_rating(package_id: int, rating: int) -> None:
    """Add one verified rating to a package (an atomic update)."""
    db.session.execute(
        update(Package)
        .where(Package.id == package_id)
        .values(rating_sum=Package.rating_sum + rating, rating_count=Package.rating_count + 1)
        .execution_options(synchronize_session=False)
    )
    freshness.changed(freshness.PACKAGES)  # the cards show the rating
    search_index.refresh_packages([package_id])  # the search ranks by it


def record_result(package_id: int, met: bool) -> None:
    """Count one settled pay-for-results contract of this package (an atomic update)."""
    column = Package.results_met if met else Package.results_missed
    db.session.execute(
        update(Package)
        .where(Package.id == package_id)
        .values({column: column + 1})
        .execution_options(synchronize_session=False)
    )
    freshness.changed(freshness.PACKAGES)  # the cards show it
    search_index.refresh_packages([package_id])  # the search ranks by it


def add_review(
    package_id: int, line_id: int, enterprise_id: int, rating: int, comment: str, actor: Actor
) -> Review:
    """Post a buyer's review of a package and count its rating: once per order line."""
    if not 1 <= rating <= 5:
        raise DomainError(_l("Rate from 1 to 5."), field="rating")
    existing = db.session.scalar(select(Review.id).where(Review.line_id == line_id))
    if existing is not None:
        raise DomainError(_l("You have already reviewed this line."), field="rating")
    review = Review(
        line_id=line_id,
        package_id=package_id,
        enterprise_id=enterprise_id,
        rating=rating,
        comment=comment.strip(),
    )
    if not add_unique(review):
        raise DomainError(_l("You have already reviewed this line."), field="rating")
    record_rating(package_id, rating)
    audit.record(actor, "review.created", "review", review.id, line_id=line_id, rating=rating)
    return review


def reviews_of(package_id: int, limit: int = 20) -> list[Review]:
    """The latest reviews of a package, with each reviewer's profile (shown, not named)."""
    stmt = (
        select(Review)
        .where(Review.package_id == package_id)
        .options(joinedload(Review.enterprise))
        .order_by(Review.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def reviews_on_lines(line_ids: list[int]) -> dict[int, Review]:
    """The review left on each of these order lines, by line id."""
    if not line_ids:
        return {}
    stmt = select(Review).where(Review.line_id.in_(line_ids))
    return {r.line_id: r for r in db.session.scalars(stmt)}
