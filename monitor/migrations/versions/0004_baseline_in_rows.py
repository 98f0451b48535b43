"""the evaluation's baseline in the obligation rows: each row's scope (the enterprise or case a
tick selects it by) and whether the last committed evaluation holds it (in_view)

The steady tick used to keep the last evaluation in memory (a province: 1.7M duties, several
GB); it now reads what it needs from these rows (monitor/evaluation/steady.py). Existing rows
get their scope from their subject, and count as in view until the first tick after the upgrade
(a full one) says which are.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.subjects import scope_id

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("obligations", sa.Column("scope", sa.String(200), server_default="", nullable=False))
    op.add_column(
        "obligations", sa.Column("in_view", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    table = sa.table(
        "obligations",
        sa.column("rule", sa.String),
        sa.column("subject", sa.String),
        sa.column("scope", sa.String),
        sa.column("in_view", sa.Boolean),
    )
    bind = op.get_bind()
    pairs = bind.execute(sa.select(table.c.rule, table.c.subject).distinct()).all()
    rows = [{"r": rule, "s": subject, "scope": scope_id(subject)} for rule, subject in pairs]
    statement = (
        sa.update(table)
        .where(table.c.rule == sa.bindparam("r"), table.c.subject == sa.bindparam("s"))
        .values(scope=sa.bindparam("scope"))
    )
    for start in range(0, len(rows), 10_000):
        bind.execute(statement, rows[start : start + 10_000])
    bind.execute(sa.update(table).values(in_view=True))
    op.create_index("ix_obligations_rule_scope", "obligations", ["rule", "in_view", "scope"])
    op.create_index("ix_obligations_status_due", "obligations", ["status", "due_at"])
    op.create_index("ix_obligations_met_at", "obligations", ["met_at"])


def downgrade() -> None:
    op.drop_index("ix_obligations_met_at", table_name="obligations")
    op.drop_index("ix_obligations_status_due", table_name="obligations")
    op.drop_index("ix_obligations_rule_scope", table_name="obligations")
    with op.batch_alter_table("obligations") as batch:
        batch.drop_column("in_view")
        batch.drop_column("scope")
