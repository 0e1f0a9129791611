"""The install's own maintenance on the Docker engine, run by `hostd` commands (not by the
daemon): `hostd uninstall` and `hostd images prune`. They read the database to know what
is this install's, and work on the engine directly, beside the control plane's port.
"""
