"""drop the indexes on activities.event_id and case_events.event_id

No query reads activities or case events by their event's id (an event is found by its own
table's key, and events are never deleted, so the foreign key never looks a child up); each
index cost a random page write per stored row, a third of what an ingest request made its
commit write at M on SQLite (docs/scaling.md).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_activities_event_id", table_name="activities")
    op.drop_index("ix_case_events_event_id", table_name="case_events")


def downgrade() -> None:
    op.create_index("ix_case_events_event_id", "case_events", ["event_id"])
    op.create_index("ix_activities_event_id", "activities", ["event_id"])
