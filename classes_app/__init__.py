"""Classes: rosters, lab templates provisioned for every student, and class-wide jobs."""
