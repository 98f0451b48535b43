"""alerts keep the key of their message

A full tick compares each alert it derives with its stored row. It compared the messages, so it
rendered every alert's message (a province's 900,000: 8 s of a tick) to find the few that changed.
The row now keeps what its message is made of (the rendering form, the template, the variables),
and a tick renders the messages whose key differs. Rows written before have no key: the first
tick after this migration writes their messages anew.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("message_key", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("message_key")
