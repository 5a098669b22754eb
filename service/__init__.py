"""Dossier: answers for reports with verified evidence."""

__version__ = "0.1.0"
