"""stream checksums: the XOR of the hashes of each stream's live entries

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from protocol.checksum import EMPTY, combine, entry_hash

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stream_heads") as batch:
        batch.add_column(sa.Column("checksum", sa.String(length=16), nullable=False,
                                   server_default=EMPTY))
    # Existing streams: fold their log (what compaction kept is the live state plus later
    # history, which folds to the same result).
    bind = op.get_bind()
    live: dict[str, dict[tuple[str, str], str | None]] = {}
    rows = bind.execute(sa.text("SELECT stream, entity, key, op, data FROM changes "
                                "ORDER BY stream, version"))
    for stream, entity, key, change_op, data in rows:
        entries = live.setdefault(stream, {})
        entries[(entity, key)] = None if change_op == "delete" else (data or "{}")
    for stream, entries in live.items():
        checksum = combine(EMPTY, *(entry_hash(entity, key, text=text)
                                    for (entity, key), text in entries.items()
                                    if text is not None))
        bind.execute(sa.text("UPDATE stream_heads SET checksum = :c WHERE stream = :s"),
                     {"c": checksum, "s": stream})


def downgrade() -> None:
    with op.batch_alter_table("stream_heads") as batch:
        batch.drop_column("checksum")
