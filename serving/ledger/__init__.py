"""The strike ledger: an append-only, hash-chained event log of complaints, strikes and freezes."""
