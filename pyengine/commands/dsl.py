"""``pyengine dsl check|compile``: check a Pine-subset strategy, or compile it to bytecode."""
from __future__ import annotations

import argparse
import hashlib
import pathlib

from pyengine.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dsl", help="check or compile a Pine-subset strategy (.pine)")
    dsub = p.add_subparsers(dest="dsl_command", metavar="ACTION", required=True)
    c = dsub.add_parser("check", help="parse and type-check; print diagnostics")
    c.add_argument("file", type=pathlib.Path)
    c.add_argument("--input", action="append", default=[], metavar="TITLE=VALUE",
                   help="override an input by its title (repeatable)")
    c.set_defaults(func=check)
    k = dsub.add_parser("compile", help="compile to a bytecode file")
    k.add_argument("file", type=pathlib.Path)
    k.add_argument("-o", "--output", type=pathlib.Path, required=True)
    k.add_argument("--input", action="append", default=[], metavar="TITLE=VALUE")
    k.set_defaults(func=compile_)


def parse_inputs(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--input needs TITLE=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        low = raw.strip().lower()
        if low in ("true", "false"):
            value = low == "true"
        else:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
        out[key.strip()] = value
    return out


def check(args) -> int:
    import dsl
    program = dsl.compile_file(args.file, inputs=parse_inputs(args.input))
    inputs = ", ".join(f"{i['title']}={i['value']!r}" for i in program.inputs) or "none"
    print(f"{args.file}: ok ({program.kind} '{program.config.get('title', '')}', "
          f"Pine v{program.pine_version}, {len(program.code)} instructions; inputs: {inputs})")
    return 0


def compile_(args) -> int:
    import dsl
    program = dsl.compile_file(args.file, inputs=parse_inputs(args.input))
    data = program.to_bytes()
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror}") from None
    print(f"{args.output}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0
