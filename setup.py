"""Build script: compiles the wire twins with Cython unless MCPFAST_NO_EXTENSIONS is set.

The build is loud on purpose: with no compiler (or no Cython) and no MCPFAST_NO_EXTENSIONS=1 it
fails rather than quietly installing the slow pure-Python package (aiohttp made the same change,
"Disable implicit switch-back to pure python mode").
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup

NO_EXTENSIONS = os.environ.get("MCPFAST_NO_EXTENSIONS", "") not in ("", "0") or (
    sys.implementation.name != "cpython"
)
DEBUG_BUILD = os.environ.get("MCPFAST_DEBUG_BUILD", "") not in ("", "0")
CYTHON_TRACE = os.environ.get("MCPFAST_CYTHON_TRACE", "") not in ("", "0")

WIRE_MODULES = ("framing", "jsonrpc", "counters")


def extensions() -> list[Extension]:
    from Cython.Build import cythonize  # a build requirement: ImportError here is loud, good

    macros: list[tuple[str, str | None]] = []
    cflags: list[str] = []
    if DEBUG_BUILD:
        macros.append(("MCPFAST_DEBUG", "1"))
        cflags += ["-O0", "-g3", "-UNDEBUG"]
    if CYTHON_TRACE:
        macros += [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]
    exts = [
        Extension(
            f"mcpfast.wire._{name}",
            [f"mcpfast/wire/_{name}.pyx"],
            define_macros=macros,
            extra_compile_args=cflags,
        )
        for name in WIRE_MODULES
    ]
    directives = {
        "language_level": 3,
        "embedsignature": True,
        "boundscheck": False,
        "wraparound": False,
        "cdivision": True,
    }
    if CYTHON_TRACE:
        directives["linetrace"] = True
    return cythonize(exts, compiler_directives=directives, annotate=False)


if NO_EXTENSIONS:
    print("*** mcpfast: MCPFAST_NO_EXTENSIONS is set, building the pure-Python package ***")
    setup(ext_modules=[])
else:
    print("*** mcpfast: compiling the Cython wire extensions ***")
    setup(ext_modules=extensions())
