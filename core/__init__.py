"""Shared foundations: settings, errors and logging. Imports nothing internal."""
