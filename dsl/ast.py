"""Syntax tree of a Pine-subset script. Every node carries its source position."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Node:
    line: int
    col: int


# ---- expressions ----
@dataclass
class Num(Node):
    value: float
    is_float: bool


@dataclass
class Str(Node):
    value: str


@dataclass
class Bool(Node):
    value: bool


@dataclass
class Na(Node):
    pass


@dataclass
class Color(Node):
    value: str


@dataclass
class Name(Node):
    id: str


@dataclass
class Call(Node):
    func: str
    args: list
    kwargs: dict  # name -> expression, in source order


@dataclass
class History(Node):
    expr: Node
    offset: Node


@dataclass
class Member(Node):
    expr: Node
    name: str


@dataclass
class Unary(Node):
    op: str  # "-", "+", "not"
    expr: Node


@dataclass
class Binary(Node):
    op: str  # + - * / % == != < <= > >= and or
    left: Node
    right: Node


@dataclass
class Ternary(Node):
    cond: Node
    then: Node
    orelse: Node


@dataclass
class ListLit(Node):
    items: list


# ---- statements ----
@dataclass
class Decl(Node):
    name: str
    value: Node  # an expression, or an If/For used as an expression
    var: Optional[str] = None  # "var" / "varip"
    qual: Optional[str] = None
    type: Optional[str] = None


@dataclass
class Reassign(Node):
    name: str
    op: str  # ":=", "+=", ...
    value: Node


@dataclass
class TupleDecl(Node):
    names: list
    value: Node


@dataclass
class ExprStmt(Node):
    expr: Node


@dataclass
class Break(Node):
    pass


@dataclass
class Continue(Node):
    pass


@dataclass
class If(Node):
    cond: Node
    body: list
    orelse: list = field(default_factory=list)


@dataclass
class For(Node):
    var: str
    start: Node
    end: Node
    step: Optional[Node]
    body: list


@dataclass
class While(Node):
    cond: Node
    body: list


@dataclass
class Switch(Node):
    subject: Optional[Node]
    arms: list  # [(value or condition, or None for the default arm; statements)]


@dataclass
class Unsupported(Node):
    what: str


@dataclass
class Param(Node):
    name: str
    type: Optional[str]
    qual: Optional[str]
    default: Optional[Node]


@dataclass
class FuncDef(Node):
    name: str
    params: list
    body: list  # statements; the last one gives the value


@dataclass
class Script:
    version: int
    body: list
    filename: str
    source: str
