"""Schema review: wire shapes, the lock file, breaking-change rules, acceptances, reports."""
