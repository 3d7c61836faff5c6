"""Indexes that keep two reads from scanning the whole history: the newest incidents of several
states (the board's resolved and closed list: the (state, opened_at_us) index orders one state
only, so 200,000 incidents were read and sorted per poll) and an alert's incidents (its history
page scanned every member row ever stored).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_opened_at_us_id", "incidents", ["opened_at_us", "id"])
    op.create_index("ix_incident_members_fingerprint_starts_at_us", "incident_members", ["fingerprint", "starts_at_us"])


def downgrade() -> None:
    op.drop_index("ix_incident_members_fingerprint_starts_at_us", "incident_members")
    op.drop_index("ix_incidents_opened_at_us_id", "incidents")
