"""hostctl: the command line of hostd."""

__version__ = "0.1.0"
