"""provisional marks on alerts and obligations

A due time counted on a year whose State Council notice is not loaded yet is provisional: the
alert record and the obligation's last status say so, and a reload with the notice clears it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("alerts", "obligations"):
        op.add_column(
            table, sa.Column("provisional", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    for table in ("alerts", "obligations"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("provisional")
