"""Source text -> ``dsl.ast.Script``: lark LALR parser plus an indenter that follows
Pine's block and line-continuation rules (pine-subset.md 2.3, 2.4)."""
from __future__ import annotations

import pathlib
import re
from functools import lru_cache

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, \
    UnexpectedToken, VisitError
from lark.indenter import Indenter

from dsl import ast as A
from dsl.errors import DslError, fail

_VERSION = re.compile(r"^[ \t]*//@version=(\d+)[ \t]*$", re.M)
_NOT_SUPPORTED_KEYWORDS = ("type", "method", "import", "export", "enum", "library")


class _IndentError(Exception):
    def __init__(self, token: Token, message: str):
        super().__init__(message)
        self.token = token


class PineIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 4

    def handle_NL(self, token):
        if self.paren_level > 0:
            return
        indent_str = token.rsplit("\n", 1)[1]
        indent = indent_str.count(" ") + indent_str.count("\t") * self.tab_len
        if indent > self.indent_level[-1] and indent % 4 != 0:
            return  # continuation of the previous line
        yield token
        if indent > self.indent_level[-1]:
            self.indent_level.append(indent)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
            return
        while indent < self.indent_level[-1]:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
        if indent != self.indent_level[-1]:
            raise _IndentError(token, "unindent does not match any outer indentation level")

    def _process(self, stream):
        token = None
        for token in stream:
            if token.type == self.NL_type:
                yield from self.handle_NL(token)
            else:
                yield token
            if token.type in self.OPEN_PAREN_types:
                self.paren_level += 1
            elif token.type in self.CLOSE_PAREN_types:
                self.paren_level -= 1
                if self.paren_level < 0:
                    raise _IndentError(token, f"unmatched '{token}'")
        while len(self.indent_level) > 1:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, "", token)


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = (pathlib.Path(__file__).parent / "grammar.lark").read_text()
    # cache=True keeps the LALR tables in the temp dir, so later processes skip building them
    return Lark(grammar, parser="lalr", postlex=PineIndenter(), propagate_positions=True,
                maybe_placeholders=True, cache=True)


def _unescape(s: str) -> str:
    body = s[1:-1]
    out, i = [], 0
    table = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(table.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@v_args(meta=True)
class _ToAst(Transformer):
    """lark tree -> dsl.ast nodes."""

    def _pos(self, meta):
        return getattr(meta, "line", 1), getattr(meta, "column", 1)

    def start(self, meta, items):
        return [s for group in items for s in (group if isinstance(group, list) else [group])]

    def simple_line(self, meta, items):
        return items

    def expr_stmt(self, meta, items):
        return A.ExprStmt(*self._pos(meta), items[0])

    def break_stmt(self, meta, items):
        return A.Break(*self._pos(meta))

    def continue_stmt(self, meta, items):
        return A.Continue(*self._pos(meta))

    def qual(self, meta, items):
        return str(items[0])

    def decl_head(self, meta, items):
        var = qual = typ = None
        name = None
        for it in items:
            if it is None:
                continue
            if isinstance(it, Token) and it.type in ("VAR", "VARIP"):
                var = str(it)
            elif isinstance(it, Token) and it.type == "TYPE":
                typ = str(it)
            elif isinstance(it, Token) and it.type == "NAME":
                name = it
            elif isinstance(it, str):
                qual = it
        return (name, var, qual, typ, self._pos(meta))

    def decl(self, meta, items):
        (name, var, qual, typ, pos), value = items
        return A.Decl(pos[0], pos[1], str(name), value, var, qual, typ)

    block_decl = decl

    def reassign(self, meta, items):
        name, op, value = items
        return A.Reassign(name.line, name.column, str(name), str(op), value)

    block_reassign = reassign

    def tuple_decl(self, meta, items):
        lst, value = items
        return A.TupleDecl(*self._pos(meta), lst.items, value)

    def block(self, meta, items):
        return [s for group in items for s in (group if isinstance(group, list) else [group])]

    def if_stmt(self, meta, items):
        cond, body, orelse = items
        return A.If(*self._pos(meta), cond, body, orelse or [])

    def else_part(self, meta, items):
        it = items[0]
        return it if isinstance(it, list) else [it]

    def for_stmt(self, meta, items):
        var, start, end, step, body = items
        return A.For(*self._pos(meta), str(var), start, end, step, body)

    def for_in(self, meta, items):
        return A.Unsupported(*self._pos(meta), "for...in loops (they need arrays)")

    def for_in_target(self, meta, items):
        return items[0]

    def while_stmt(self, meta, items):
        cond, body = items
        return A.While(*self._pos(meta), cond, body)

    def switch_stmt(self, meta, items):
        subject, *arms = items
        return A.Switch(*self._pos(meta), subject, arms)

    def case_arm(self, meta, items):
        return (items[0], items[1])

    def default_arm(self, meta, items):
        return (None, items[0])

    def arm_expr(self, meta, items):
        return [A.ExprStmt(items[0].line, items[0].col, items[0])]

    def arm_block(self, meta, items):
        return items[0]

    def params(self, meta, items):
        return items

    def param(self, meta, items):
        qual, typ, name, default = items
        return A.Param(name.line, name.column, str(name), str(typ) if typ else None, qual,
                       default)

    def func_line(self, meta, items):
        name, params, body = items
        return A.FuncDef(*self._pos(meta), str(name), params or [],
                         [A.ExprStmt(body.line, body.col, body)])

    def func_block(self, meta, items):
        name, params, body = items
        return A.FuncDef(*self._pos(meta), str(name), params or [], body)

    def ternary(self, meta, items):
        return A.Ternary(*self._pos(meta), *items)

    def or_op(self, meta, items):
        return A.Binary(*self._pos(meta), "or", *items)

    def and_op(self, meta, items):
        return A.Binary(*self._pos(meta), "and", *items)

    def binop(self, meta, items):
        left, op, right = items
        return A.Binary(op.line, op.column, str(op), left, right)

    def not_op(self, meta, items):
        return A.Unary(*self._pos(meta), "not", items[0])

    def neg_op(self, meta, items):
        op, expr = items
        return A.Unary(*self._pos(meta), str(op), expr)

    def history(self, meta, items):
        expr, off = items
        return A.History(*self._pos(meta), expr, off)

    def call(self, meta, items):
        name, args = items
        pos, kw = [], {}
        for a in args or []:
            if isinstance(a, tuple):
                kw[a[0]] = a[1]
            else:
                pos.append(a)
        return A.Call(name.line, name.column, str(name), pos, kw)

    def na_call(self, meta, items):
        pos = [a for a in items[0] or [] if not isinstance(a, tuple)]
        kw = dict(a for a in items[0] or [] if isinstance(a, tuple))
        return A.Call(*self._pos(meta), "na", pos, kw)

    def args(self, meta, items):
        return items

    def kwarg(self, meta, items):
        return (str(items[0]), items[1])

    def member(self, meta, items):
        return A.Member(*self._pos(meta), items[0], str(items[1]))

    def number(self, meta, items):
        t = str(items[0])
        is_float = "." in t or "e" in t or "E" in t
        return A.Num(*self._pos(meta), float(t), is_float)

    def string(self, meta, items):
        return A.Str(*self._pos(meta), _unescape(str(items[0])))

    def color(self, meta, items):
        return A.Color(*self._pos(meta), str(items[0]))

    def true(self, meta, items):
        return A.Bool(*self._pos(meta), True)

    def false(self, meta, items):
        return A.Bool(*self._pos(meta), False)

    def na(self, meta, items):
        return A.Na(*self._pos(meta))

    def name(self, meta, items):
        return A.Name(items[0].line, items[0].column, str(items[0]))

    def list_lit(self, meta, items):
        return A.ListLit(*self._pos(meta), [i for i in items if i is not None])


def _describe(token: Token) -> str:
    if token.type == "_NL":
        return "end of line"
    if token.type == "_INDENT":
        return "indent"
    if token.type == "_DEDENT":
        return "dedent"
    if token.type == "$END":
        return "end of file"
    return repr(str(token))


def _syntax_error(filename: str, source: str, exc: UnexpectedInput) -> DslError:
    line, col = exc.line, exc.column
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type in ("_INDENT", "_DEDENT", "_NL"):
            # Point at the start of the offending line rather than the newline token.
            line = (tok.end_line or line)
            col = len(str(tok).rsplit("\n", 1)[-1]) + 1
        if tok.type == "_INDENT":
            msg = "unexpected indent (a block may only follow if/else/for/function headers; " \
                  "indent continuation lines by a number of spaces that is not a multiple of 4)"
        else:
            msg = f"syntax error: unexpected {_describe(tok)}"
    elif isinstance(exc, UnexpectedCharacters):
        ch = source.splitlines()[line - 1][col - 1:col] if line - 1 < len(source.splitlines()) \
            else ""
        msg = f"syntax error: unexpected character {ch!r}"
    else:
        msg = "syntax error: unexpected end of file"
    if line and 0 < line <= len(source.splitlines()):
        text = source.splitlines()[line - 1]
        word = text.strip().split("(")[0].split(" ")[0].split("<")[0]
        if word in _NOT_SUPPORTED_KEYWORDS:
            return fail(filename, source, line, text.index(word) + 1,
                        f"not supported: '{word}'")
        if re.search(r"\b(array|matrix|map)<", text):
            m = re.search(r"\b(array|matrix|map)<", text)
            return fail(filename, source, line, m.start() + 1,
                        f"not supported: {m.group(1)} types")
    return fail(filename, source, line or 1, col or 1, msg)


def parse(source: str, filename: str = "<string>") -> A.Script:
    """Parse Pine source; raises DslError with a caret diagnostic on any problem."""
    if not isinstance(source, str):
        raise DslError([f"{filename}:1:1: source must be text"])
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in source:
        ln = source[: source.index("\x00")].count("\n") + 1
        raise fail(filename, source, ln, 1, "NUL character in source")
    m = _VERSION.search(source)
    if not m:
        raise fail(filename, source, 1, 1,
                   "missing '//@version=N' annotation (accepted versions: 4, 5, 6)")
    version = int(m.group(1))
    if version not in (4, 5, 6):
        ln = source[: m.start()].count("\n") + 1
        raise fail(filename, source, ln, 1,
                   f"not supported: //@version={version} (accepted versions: 4, 5, 6)")
    try:
        tree = _lark().parse(source + "\n")
    except _IndentError as exc:
        tok = exc.token
        raise fail(filename, source, tok.end_line or tok.line or 1,
                   len(str(tok).rsplit("\n", 1)[-1]) + 1, str(exc)) from None
    except UnexpectedEOF:
        lines = source.splitlines() or [""]
        raise fail(filename, source, len(lines), len(lines[-1]) + 1,
                   "syntax error: unexpected end of file (unclosed bracket?)") from None
    except UnexpectedInput as exc:
        raise _syntax_error(filename, source, exc) from None
    except RecursionError:
        raise fail(filename, source, 1, 1, "expression nested too deeply") from None
    except LarkError as exc:
        raise fail(filename, source, 1, 1, f"syntax error: {exc}") from None
    try:
        body = _ToAst().transform(tree)
    except VisitError as exc:
        raise fail(filename, source, 1, 1, f"syntax error: {exc.orig_exc}") from None
    return A.Script(version, body, filename, source)
