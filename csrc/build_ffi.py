"""cffi (API mode) build of the C hot path as ``pyengine._core``.

Every ``csrc/*.h`` contributes the part of itself between ``/* cdef-begin */`` and
``/* cdef-end */`` to the cdef, and every ``csrc/*.c`` is compiled in, so a new C module
needs no change here.
"""
import os
import pathlib
import re

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-fno-strict-aliasing"]
SANITIZE_FLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                  "-fno-sanitize-recover=undefined"]
_CDEF = re.compile(r"/\* cdef-begin \*/(.*?)/\* cdef-end \*/", re.S)


def public_headers() -> list[pathlib.Path]:
    return [h for h in sorted(HERE.glob("*.h")) if _CDEF.search(h.read_text())]


def cdef_text() -> str:
    return "\n".join(part for h in public_headers() for part in _CDEF.findall(h.read_text()))


def make_builder(module_name: str = "pyengine._core", sanitize: bool = False) -> FFI:
    ffi = FFI()
    ffi.cdef(cdef_text())
    headers = "".join(f'#include "{h.name}"\n' for h in public_headers())
    flags = CFLAGS + (SANITIZE_FLAGS if sanitize else [])
    ffi.set_source(
        module_name,
        headers,
        sources=[str(p.relative_to(HERE.parent)) if not sanitize else str(p)
                 for p in sorted(HERE.glob("*.c"))],
        include_dirs=[str(HERE)],
        extra_compile_args=flags,
        extra_link_args=["-fsanitize=address,undefined"] if sanitize else [],
    )
    return ffi


ffibuilder = make_builder(sanitize=os.environ.get("PYENGINE_SANITIZE") == "1")

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
