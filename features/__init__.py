"""The data contract and the feature transforms: tables in, feature frames out (no I/O in transforms)."""
