"""action links: each official's link generation, and the signing key made at first start

An official's link generation is signed into every action link sent to them; bumping it revokes
them all. The key is kept in the database only when none is configured.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_generations",
        sa.Column("official_id", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("official_id", name=op.f("pk_link_generations")),
    )
    op.create_table(
        "link_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_secrets")),
    )


def downgrade() -> None:
    op.drop_table("link_secrets")
    op.drop_table("link_generations")
