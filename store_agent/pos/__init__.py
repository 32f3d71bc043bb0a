"""The till's side of the store agent: pricing a basket, recording a sale, receipts, the
customer display; ``pos.api`` serves them on the store LAN (/pos/v1)."""
