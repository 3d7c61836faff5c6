"""Incidents, their members and timelines, problems, and the engine's watermark.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("category", sa.String(16), nullable=True),
        sa.Column("team", sa.String(200), nullable=False),
        sa.Column("opened_at_us", sa.BigInteger, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        sa.Column("resolved_at_us", sa.BigInteger, nullable=True),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("header", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_state_opened_at_us", "incidents", ["state", "opened_at_us"])
    op.create_table(
        "incident_members",
        sa.Column("incident_id", sa.String(20), nullable=False),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("starts_at_us", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "fingerprint", "starts_at_us", name="pk_incident_members"),
    )
    op.create_table(
        "incident_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(20), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incident_events"),
    )
    op.create_index("ix_incident_events_incident_id_id", "incident_events", ["incident_id", "id"])
    op.create_table(
        "problems",
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at_us", sa.BigInteger, nullable=False),
        sa.Column("last_seen_us", sa.BigInteger, nullable=False),
        sa.Column("incident_ids", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_problems"),
    )
    op.create_table(
        "engine_state",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_engine_state"),
    )


def downgrade() -> None:
    for table in ("engine_state", "problems", "incident_events", "incident_members", "incidents"):
        op.drop_table(table)
