"""The BentoML scoring service, the strike ledger, the review queue and batch scoring."""
