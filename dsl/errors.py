"""Diagnostics in the ``file:line:col: message`` form, with the source line and a caret."""
from __future__ import annotations

from pyengine.errors import UserError


class DslError(UserError):
    """One or more compile (or load) errors. ``str()`` is the full, printable report."""

    def __init__(self, diagnostics: list[str]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(diagnostics))


def diagnostic(filename: str, source: str, line: int, col: int, message: str) -> str:
    lines = source.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    caret_col = max(col, 1)
    # Render tabs as the editor would so the caret lands under the right character.
    shown = text.expandtabs(4)
    caret_col = len(text[: caret_col - 1].expandtabs(4)) + 1
    return f"{filename}:{line}:{col}: {message}\n    {shown}\n    {' ' * (caret_col - 1)}^"


def fail(filename: str, source: str, line: int, col: int, message: str) -> DslError:
    return DslError([diagnostic(filename, source, line, col, message)])
