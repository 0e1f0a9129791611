"""Makes the engine match the database: the deployer and its steps, lifecycle, reconciler,
engine-event monitor, status board, metrics collector, build logs, git.
"""
