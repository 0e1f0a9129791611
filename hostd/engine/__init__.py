"""Everything that talks to Docker. Nothing outside this package imports `docker`."""
