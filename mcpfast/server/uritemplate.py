"""RFC 6570 URI templates, matched (not only expanded): how a resource template finds the
variables of a ``resources/read`` URI."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote

__all__ = ["UriTemplate"]

_EXPR = re.compile(r"\{([+#./;?&]?)([^}]*)\}")
_VARNAME = re.compile(r"^[A-Za-z0-9_.%]+$")


class UriTemplate:
    """Matching (not only expansion) of RFC 6570 URI templates, levels 1-4, for the shapes
    resource templates use: ``{var}`` (one segment), ``{+var}`` and ``{#var}`` (reserved
    characters allowed, so ``/`` too), ``{/var}``, ``{.var}``, ``{;var}``, ``{?q,r}`` and
    ``{&s}`` (query parameters, in any order, each optional). The prefix modifier ``{var:3}`` is
    matched like ``{var}``; an exploded ``{/var*}`` or ``{var*}`` yields a list of the parts.
    ``match`` returns the variables (percent-decoded) or None.
    """

    __slots__ = ("template", "_re", "_names", "_query", "_explode")

    def __init__(self, template: str) -> None:
        self.template = template
        parts: list[str] = []
        names: list[str] = []
        query: list[str] = []
        explode: dict[str, str] = {}
        pos = 0
        has_query = False
        for m in _EXPR.finditer(template):
            if has_query and template[pos:m.start()]:
                raise ValueError(f"literal text after a query expression in {template!r}")
            parts.append(re.escape(template[pos:m.start()]))
            pos = m.end()
            op, body = m.group(1), m.group(2)
            vars_ = []
            for spec in body.split(","):
                star = spec.endswith("*")
                name = spec.rstrip("*").split(":", 1)[0]
                if not _VARNAME.match(name):
                    raise ValueError(f"bad variable name {name!r} in {template!r}")
                vars_.append(name)
                if star:
                    explode[name] = op
            if op in ("?", "&"):
                has_query = True
                query.extend(vars_)
                parts.append(r"(?:[?&](?P<_q%d>[^#]*))?" % len(query))
                continue
            if has_query:
                raise ValueError(f"a path expression after a query expression in {template!r}")
            if op in ("", ".", ";"):
                seg = r"[^/?#.]*" if op == "." else r"[^/?#]*"
            elif op == "/":
                seg = r"[^/?#]*"
            else:  # + and #: reserved expansion, slashes allowed
                seg = r"[^#]*" if op == "+" else r".*"
            lead = {"": "", "+": "", "#": "#", ".": r"\.", "/": "/", ";": ";"}[op]
            sep = {"": ",", "+": ",", "#": ",", ".": r"\.", "/": "/", ";": ";"}[op]
            groups = []
            for name in vars_:
                if name in names:
                    raise ValueError(f"variable {name!r} appears twice in {template!r}")
                names.append(name)
                if name in explode and op in ("/", "."):
                    g = rf"(?P<{_g(name)}>{seg}(?:{sep}{seg})*)"
                elif op == ";":
                    g = rf"{re.escape(name)}=?(?P<{_g(name)}>{seg.replace(';', '')})"
                else:
                    g = rf"(?P<{_g(name)}>{seg if len(vars_) == 1 else seg.replace(']', ',]')})"
                groups.append(g)
            parts.append(lead + sep.join(groups))
        if has_query and template[pos:]:
            raise ValueError(f"literal text after a query expression in {template!r}")
        parts.append(re.escape(template[pos:]))
        self._re = re.compile("".join(parts) + r"\Z", re.DOTALL)
        self._names = tuple(names)
        self._query = frozenset(query)
        self._explode = explode

    @property
    def variables(self) -> tuple[str, ...]:
        return self._names + tuple(sorted(self._query))

    @property
    def query_variables(self) -> frozenset[str]:
        """The variables of ``{?...}``/``{&...}`` expressions: a URI may omit any of them."""
        return self._query

    def match(self, uri: str) -> dict[str, Any] | None:
        m = self._re.match(uri)
        if m is None:
            return None
        out: dict[str, Any] = {}
        for name in self._names:
            v = m.group(_g(name))
            if v is None:
                continue
            op = self._explode.get(name)
            if op is not None:
                sep = "/" if op == "/" else "." if op == "." else ","
                out[name] = [unquote(x) for x in v.split(sep)]
            else:
                if v == "" and name not in self._explode:
                    return None  # an empty segment does not match a required variable
                out[name] = unquote(v)
        if self._query:
            qs = "&".join(v for k, v in m.groupdict().items() if k.startswith("_q") and v)
            for k, v in parse_qsl(qs, keep_blank_values=True):
                if k in self._query:
                    if k in self._explode:
                        out.setdefault(k, []).append(v)
                    else:
                        out[k] = v
        return out

    def __repr__(self) -> str:
        return f"UriTemplate({self.template!r})"


def _g(name: str) -> str:
    """A regex group name for a template variable (names may contain '.' and '%')."""
    return "v_" + "".join(c if c.isalnum() or c == "_" else f"_{ord(c):x}_" for c in name)
