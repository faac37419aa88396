"""Regular expressions typed by users of the control API, compiled so that none can stall the
event loop.

With the `re2` module (PyPI `google-re2`) matching is linear in the text, whatever the pattern.
Without it, Python's `re` is used on a safe subset only: no backreferences or lookarounds, no
quantifier over a group that itself repeats or alternates (the exponential cases), at most two
unbounded quantifiers (the polynomial ones), and the searched text cut at FALLBACK_TEXT_LIMIT.
"""
from __future__ import annotations

import re
from typing import Any, Callable

try:  # pragma: no cover - depends on what is installed
    import re2 as _re2
except ImportError:  # pragma: no cover
    _re2 = None

try:
    from re import _parser as _sre_parse  # Python 3.11+
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]

MAX_PATTERN = 256  # characters
FALLBACK_TEXT_LIMIT = 16 * 1024  # characters searched per text when `re` is the engine
MAX_UNBOUNDED = 2
ENGINE = "re2" if _re2 is not None else "re"


class PatternError(ValueError):
    """The pattern is not valid, or not allowed (too long, outside the safe subset)."""


Search = Callable[[str], bool]


def compile_search(pattern: str, engine: str | None = None) -> Search:
    """A `text -> bool` that tells whether `pattern` occurs in the text."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"pattern longer than {MAX_PATTERN} characters")
    engine = engine or ENGINE
    if engine == "re2" and _re2 is not None:
        options = _re2.Options()
        options.log_errors = False
        options.max_mem = 8 << 20
        try:
            compiled = _re2.compile(pattern, options)
        except _re2.error as exc:
            detail = exc.args[0] if exc.args else exc
            raise PatternError(f"invalid pattern: {detail.decode() if isinstance(detail, bytes) else detail}") from None
        return lambda text: compiled.search(text) is not None
    try:
        tree = _sre_parse.parse(pattern)
    except re.error as exc:
        raise PatternError(f"invalid pattern: {exc}") from None
    _check_safe(tree)
    compiled_re = re.compile(pattern)
    return lambda text: compiled_re.search(text[:FALLBACK_TEXT_LIMIT]) is not None


_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_FORBIDDEN = {
    "GROUPREF": "backreferences",
    "GROUPREF_EXISTS": "conditional groups",
    "ASSERT": "lookarounds",
    "ASSERT_NOT": "lookarounds",
}


def _check_safe(tree: Any) -> None:
    unbounded = [0]

    def walk(items: Any, in_repeat: bool) -> None:
        for op, arg in items:
            name = str(op)
            if name in _FORBIDDEN:
                raise PatternError(f"{_FORBIDDEN[name]} are not supported without google-re2")
            if name in _REPEATS:
                low, high, sub = arg
                if in_repeat:
                    raise PatternError("nested quantifiers are not supported without google-re2")
                if high is _sre_parse.MAXREPEAT:
                    unbounded[0] += 1
                walk(sub, True)
            elif name == "BRANCH":
                if in_repeat:
                    raise PatternError("a quantified alternation is not supported without google-re2")
                for branch in arg[1]:
                    walk(branch, in_repeat)
            elif name == "SUBPATTERN":
                walk(arg[-1], in_repeat)
            elif name == "ATOMIC_GROUP":
                walk(arg, in_repeat)

    walk(tree, False)
    if unbounded[0] > MAX_UNBOUNDED:
        raise PatternError(f"more than {MAX_UNBOUNDED} unbounded quantifiers (*, +, {{n,}}) need google-re2")
