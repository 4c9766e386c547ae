"""Exceptions that carry a message meant for the user (what went wrong and where)."""


class UserError(Exception):
    """Bad input from the user: config, file, strategy, command-line argument."""
