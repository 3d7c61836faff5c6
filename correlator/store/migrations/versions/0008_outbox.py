"""Forwarding: the outbox written with each engine step, remote references per incident and
destination, inbound events already applied.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(20), nullable=False),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_us", sa.BigInteger, nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until_us", sa.BigInteger, nullable=True),
        sa.Column("create_sent_us", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("done_us", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_state_destination_next_attempt_us", "outbox",
                    ["state", "destination", "next_attempt_us"])
    op.create_index("ix_outbox_incident_id_destination_id", "outbox", ["incident_id", "destination", "id"])
    op.create_table(
        "forward_refs",
        sa.Column("incident_id", sa.String(20), nullable=False),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("remote_key", sa.Text, nullable=True),
        sa.Column("remote_url", sa.Text, nullable=True),
        sa.Column("remote_extra", sa.Text, nullable=True),
        sa.Column("linked_us", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("incident_id", "destination", name="pk_forward_refs"),
    )
    op.create_table(
        "inbound_events",
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("destination", "event_id", name="pk_inbound_events"),
    )


def downgrade() -> None:
    op.drop_table("inbound_events")
    op.drop_table("forward_refs")
    op.drop_index("ix_outbox_incident_id_destination_id", "outbox")
    op.drop_index("ix_outbox_state_destination_next_attempt_us", "outbox")
    op.drop_table("outbox")
