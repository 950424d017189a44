#!/usr/bin/env python3
"""The stand-in's layout, measured: functions over 60 lines, and import cycles between its
files (`use crate::a::b` in a/x.rs and `use crate::a::x` in a/b.rs).

    python3 tests/layout/layout.py [--check] [CRATE_SRC ...]

Prints each long function and each cycle; with --check, exits 1 when there is any. The
parsing is lexical (braces outside strings, chars and comments), enough for rustfmt'd code.
"""
import pathlib
import re
import sys

LIMIT = 60
ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT = [ROOT / "crates/codedeploy-local/src"]

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def strip(line, state):
    """The line without strings, chars and comments; `state` carries a block comment or a
    raw string across lines."""
    out, i = [], 0
    while i < len(line):
        if state["block"]:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out)
            state["block"], i = False, end + 2
            continue
        if state["raw"]:
            end = line.find(state["raw"], i)
            if end < 0:
                return "".join(out)
            i, state["raw"] = end + len(state["raw"]), None
            continue
        if state["string"]:
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == '"':
                state["string"] = False
            i += 1
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"], i = True, i + 2
            continue
        raw = re.match(r'b?r(#*)"', line[i:])
        if raw and (i == 0 or not (line[i - 1].isalnum() or line[i - 1] == "_")):
            state["raw"], i = '"' + raw.group(1), i + raw.end()
            continue
        if c == '"':
            state["string"], i = True, i + 1
            continue
        char = re.match(r"b?'(\\.|[^\\'])'", line[i:])
        if char:
            i += char.end()
            continue
        out.append(c)
        i += 1
    return "".join(out)


def long_functions(path):
    lines = path.read_text().splitlines()
    state = {"block": False, "raw": None, "string": False}
    found, stack, depth = [], [], 0
    for n, line in enumerate(lines, 1):
        code = strip(line, state)
        m = FN.match(code)
        if m:
            stack.append((m.group(6), n, depth))
        for c in code:
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                while stack and depth == stack[-1][2]:
                    name, start, _ = stack.pop()
                    if n - start + 1 > LIMIT:
                        found.append((name, start, n - start + 1))
        if ";" in code and stack and depth == stack[-1][2] and "{" not in code:
            stack.pop()  # a declaration without a body (a trait's)
    return found


def module_of(src, path):
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts)


def reexports(src):
    """`pub use crate::a::b::{X, Y}` of the crate root: X -> a::b."""
    text = (src / "lib.rs").read_text() if (src / "lib.rs").exists() else ""
    found = {}
    for m in re.finditer(r"pub use crate::([\w:]+?)::\{([^}]*)\}", text):
        for name in re.findall(r"\w+", m.group(2)):
            found[name] = m.group(1).split("::")
    for m in re.finditer(r"pub use crate::([\w:]+)::(\w+);", text):
        found[m.group(2)] = m.group(1).split("::")
    return found


def imports(src, path, modules, aliases):
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests", path.read_text())[0]
    me = module_of(src, path)
    if me == "":
        # The crate root's re-exports are its facade, not a dependency of the root.
        text = re.sub(r"pub use [^;]*;", "", text)
    mine = me.split("::") if me else []
    used = set()
    for m in re.finditer(r"\b(crate|super|self)::([\w:]+)", text):
        rest = m.group(2).split("::")
        if m.group(1) == "crate":
            target = aliases.get(rest[0], rest)
        elif m.group(1) == "super":
            target = mine[:-1] + rest
        else:
            target = mine + rest
        while target and "::".join(target) not in modules:
            target = target[:-1]
        name = "::".join(target)
        related = name == me or me.startswith(name + "::") or name.startswith(me + "::")
        if not related or (name == "" and me != ""):
            used.add(name)
    return used


def cycles(src):
    """The groups of files that import one another, directly or through others (strongly
    connected components of the import graph; a module and its own submodules are one
    unit, as Rust's privacy makes them)."""
    # main.rs is another crate (the binary), which reaches the library by its name.
    files = [p for p in src.rglob("*.rs") if "tests" not in p.stem and p.name != "main.rs"]
    modules = {module_of(src, p): p for p in files}
    aliases = reexports(src)
    edges = {m: imports(src, p, modules, aliases) & modules.keys() for m, p in modules.items()}
    index, low, stack, on, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(modules):
        if v not in index:
            visit(v)
    return sorted(groups)


def main(argv):
    check = "--check" in argv
    srcs = [pathlib.Path(a) for a in argv if a != "--check"] or DEFAULT
    bad = 0
    for src in srcs:
        for path in sorted(src.rglob("*.rs")):
            for name, start, length in long_functions(path):
                print(f"{path}:{start}: fn {name} is {length} lines (over {LIMIT})")
                bad += 1
        for group in cycles(src):
            names = ", ".join(m or "crate" for m in group)
            print(f"{src}: {names} import one another")
            bad += 1
    print(f"{bad} finding(s)")
    return 1 if check and bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
