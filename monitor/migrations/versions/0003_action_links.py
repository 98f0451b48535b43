"""action links: each official's link generation, the signing key made at first start, and
which digest gathered each held notification

An official's link generation is signed into every action link sent to them; bumping it revokes
them all. The key is kept in the database only when none is configured. A digest's link opens
the list of the notifications it gathered (outbox.digest_id).

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
    op.add_column("outbox", sa.Column("digest_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_outbox_digest_id"), "outbox", ["digest_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_digest_id"), table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("digest_id")
    op.drop_table("link_secrets")
    op.drop_table("link_generations")
