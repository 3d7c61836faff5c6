"""Go's regular expressions (RE2 syntax, as Alertmanager compiles matchers) run by Python's `re`.

Most of the syntax means the same in both. Where it does not, the pattern is rewritten, or refused
when Go refuses it, so a matcher matches here what it matches in Alertmanager:

- `\\d \\w \\s \\b` are ASCII in Go (Python's are Unicode): written out as ASCII classes;
- flags set mid-pattern, `a(?i)b` (Python accepts flags only at the very start): rewritten as scoped
  groups, `a(?i:b)`, closed where Go's scope ends (the enclosing group, or an alternation);
- POSIX classes `[[:alpha:]]`, `\\Q...\\E`, `\\x{10FFFF}`, `(?<name>...)` and `\\z`: rewritten;
- `x{,3}` is a literal in Go: escaped;
- what RE2 does not have (lookarounds, backreferences, atomic groups, possessive repeats, `\\Z`) and
  what Python does not have (`\\p{Greek}` Unicode classes, the ungreedy flag `U`) is refused.

`.` matches a newline only under `(?s)` in both: matchers are compiled without DOTALL.
"""

from __future__ import annotations

import re

_ASCII_CLASSES = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_POSIX = {"alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
          "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
          "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f"}
_FLAGS = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?([:)])")
_REPEAT = re.compile(r"\{(\d+)(,\d*)?\}")
_NOT_RE2 = {"(?=": "lookahead", "(?!": "negative lookahead", "(?<=": "lookbehind", "(?<!": "negative lookbehind",
            "(?>": "atomic group", "(?P=": "backreference", "(?(": "conditional", "(?#": "comment"}


class GoRegexError(ValueError):
    def __init__(self, pattern: str, position: int, reason: str):
        super().__init__(reason)
        self.pattern, self.pos, self.msg = pattern, position, reason


def translate(pattern: str) -> str:
    """The Python pattern that matches what Go's `regexp` matches for `pattern`."""
    out: list[str] = []
    scopes: list[list[str]] = [[]]  # per open group: the mid-pattern flag scopes opened in it
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            text, i = _escape(pattern, i, in_class=False)
            out.append(text)
            continue
        if c == "[":
            text, i = _class(pattern, i)
            out.append(text)
            continue
        if c == "(":
            for prefix, name in _NOT_RE2.items():
                if pattern.startswith(prefix, i):
                    raise GoRegexError(pattern, i, f"{name} {prefix}...) is not RE2 syntax: Alertmanager refuses it")
            flags = _FLAGS.match(pattern, i)
            if flags and (flags.group(1) or flags.group(2) is not None):
                if "U" in flags.group(0):
                    raise GoRegexError(pattern, i, "the ungreedy flag U is not supported")
                spec = flags.group(1) + (f"-{flags.group(2)}" if flags.group(2) else "")
                if flags.group(3) == ")":  # (?i) mid-pattern: a scope to the end of the enclosing group
                    out.append(f"(?{spec}:")
                    scopes[-1].append(spec)
                else:
                    out.append(f"(?{spec}:")
                    scopes.append([])
                i = flags.end()
                continue
            if pattern.startswith("(?<", i) and not pattern.startswith("(?<=", i):
                out.append("(?P<")
                i += 3
            else:
                out.append(c)
                i += 1
            scopes.append([])
            continue
        if c == ")":
            if len(scopes) == 1:
                raise GoRegexError(pattern, i, "unexpected )")
            out.append(")" * len(scopes.pop()) + ")")
            i += 1
            continue
        if c == "|" and scopes[-1]:  # Go's flag scope spans the alternation: close and reopen it
            out.append(")" * len(scopes[-1]) + "|" + "".join(f"(?{spec}:" for spec in scopes[-1]))
            i += 1
            continue
        if c == "{" and not _REPEAT.match(pattern, i):
            out.append("\\{")  # not a repeat in Go (Python reads x{,3} as one)
            i += 1
            continue
        out.append(c)
        i += 1
    if len(scopes) > 1:
        raise GoRegexError(pattern, n, "missing closing )")
    out.append(")" * len(scopes[0]))
    return "".join(out)


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    if i + 1 >= len(pattern):
        raise GoRegexError(pattern, i, "trailing backslash at end of expression")
    c = pattern[i + 1]
    if c in "dws":
        return (_ASCII_CLASSES[c] if in_class else f"[{_ASCII_CLASSES[c]}]"), i + 2
    if c in "DWS":
        if in_class:
            raise GoRegexError(pattern, i, f"\\{c} inside a character class is not supported; use [^...]")
        return f"[^{_ASCII_CLASSES[c.lower()]}]", i + 2
    if c in "bB" and not in_class:
        return f"(?a:\\{c})", i + 2
    if c == "z":
        return "\\Z", i + 2
    if c == "Z":
        raise GoRegexError(pattern, i, "invalid escape \\Z (Go has \\z)")
    if c in "pP":
        raise GoRegexError(pattern, i, f"Unicode classes \\{c}{{...}} are not supported")
    if c.isdigit() and c != "0":
        raise GoRegexError(pattern, i, f"backreference \\{c} is not RE2 syntax: Alertmanager refuses it")
    if c == "Q":
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2:] if end < 0 else pattern[i + 2:end]
        return re.escape(literal), len(pattern) if end < 0 else end + 2
    if c == "x" and pattern.startswith("{", i + 2):
        end = pattern.find("}", i + 3)
        try:
            code = int(pattern[i + 3:end], 16) if end > 0 else -1
        except ValueError:
            code = -1
        if not 0 <= code <= 0x10FFFF:
            raise GoRegexError(pattern, i, "invalid escape \\x{...}")
        return f"\\U{code:08x}", end + 1
    return pattern[i:i + 2], i + 2


def _class(pattern: str, i: int) -> tuple[str, int]:
    """A bracketed class from `[` at i, translated; returns it and the index after its `]`."""
    out, j = ["["], i + 1
    if pattern.startswith("^", j):
        out.append("^")
        j += 1
    if pattern.startswith("]", j):  # a leading ] is a literal
        out.append("\\]")
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        if pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            name = pattern[j + 2:end].lstrip("^") if end > 0 else ""
            if name not in _POSIX:
                raise GoRegexError(pattern, j, f"invalid character class range {pattern[j:end + 2]}")
            if pattern[j + 2] == "^":
                raise GoRegexError(pattern, j, "negated POSIX classes [[:^...:]] are not supported")
            out.append(_POSIX[name])
            j = end + 2
        elif pattern[j] == "\\":
            text, j = _escape(pattern, j, in_class=True)
            out.append(text)
        elif pattern[j] == "[":
            out.append("\\[")  # a literal [ in Go; Python warns of nested sets
            j += 1
        else:
            out.append(pattern[j])
            j += 1
    if j >= len(pattern):
        raise GoRegexError(pattern, i, "missing closing ]")
    out.append("]")
    return "".join(out), j + 1


def compile_go(pattern: str) -> re.Pattern:
    """Compile as Alertmanager's matchers do: `^(?:pattern)$`, Go semantics."""
    return re.compile(f"(?:{translate(pattern)})")
