"""The package version, kept in one place for the packaging metadata and the User-Agent."""

__version__ = "0.1.0"
