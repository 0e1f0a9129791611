"""The command bodies, one module per area; `hostctl.cli` registers them on the app."""
