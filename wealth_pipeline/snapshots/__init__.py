"""Account snapshots: one balance per account and day, written one way (`store`)."""
