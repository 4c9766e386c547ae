"""The exporter's one error type: where (file:line:col), what construct, and a hint."""
from __future__ import annotations

import ast

from pyengine.errors import UserError


class ExportError(UserError):
    """A Freqtrade construct that cannot be translated to the Pine subset with the same meaning."""

    def __init__(self, filename: str, node: ast.AST | None, construct: str, hint: str = "") -> None:
        line = getattr(node, "lineno", 0)
        col = getattr(node, "col_offset", -1) + 1
        where = f"{filename}:{line}:{col}" if line else filename
        text = f"{where}: not supported: {construct}"
        if hint:
            text += f" (hint: {hint})"
        super().__init__(text)
        self.filename = filename
        self.line = line
        self.construct = construct
