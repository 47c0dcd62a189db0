"""The wire core: bytes in, messages out, and back. Knows nothing of MCP methods.

Each hot module has a compiled twin (``_x.pyx``) and a pure-Python twin (``_x_py.py``, the
specification: docstrings and edge cases live there); ``x.py`` picks one at import.
"""
