#!/usr/bin/env python3
"""Finds import cycles between the modules of each crate in the workspace.

For every crate (a directory with Cargo.toml and src/), each source file is a module. A
module A depends on a sibling B (two modules declared by the same parent) when A, or any
module below A, names B through `crate::…::B`, `super::B` or `self::B`, in a `use` or in a
path. Submodules naming their own ancestors are not edges (that is how a module tree reads
its parent's items); a cycle is two siblings that reach each other, directly or through other
siblings. Prints every cycle and exits 1 if there is one.

    scripts/check-module-cycles.py            # the whole workspace
    scripts/check-module-cycles.py parent-agent crates/mpc
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def crates(args):
    if args:
        return [ROOT / a for a in args]
    return sorted(p.parent for p in ROOT.glob("**/Cargo.toml")
                  if (p.parent / "src").is_dir() and "target" not in p.parts)


def module_path(src: Path, f: Path):
    """`src/a/b.rs` or `src/a/b/mod.rs` → ("a", "b"); lib.rs/main.rs/bin files → ()."""
    rel = f.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts and parts[0] == "bin":
        return None
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        return ()
    return tuple(parts)


PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\b(crate|super|self)::\{([^}]*)\}")
STRIP = re.compile(r"//[^\n]*|\"(?:\\.|[^\"\\])*\"")


def references(text, here):
    """Absolute module paths (tuples) that `text`, in module `here`, names."""
    text = STRIP.sub("", text)
    out = []

    def resolve(head, rest):
        base = {"crate": (), "self": here, "super": here[:-1]}[head]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
        return base + tuple(rest)

    for m in PATH.finditer(text):
        out.append(resolve(m.group(1), m.group(2).split("::")[1:]))
    for m in USE_GROUP.finditer(text):
        for item in m.group(2).split(","):
            item = item.strip().split("::")[0].split(" as ")[0].strip()
            if item and item != "self":
                out.append(resolve(m.group(1), [item]))
    return out


def check(crate: Path):
    src = crate / "src"
    mods = {}
    for f in src.rglob("*.rs"):
        mp = module_path(src, f)
        if mp is not None:
            mods[mp] = f.read_text(encoding="utf-8", errors="replace")
    known = set(mods)
    # Edges between siblings: for each reference from module `a` to module `b`, lift both to
    # the children of their deepest common ancestor.
    edges = {}
    for a, text in mods.items():
        # Test modules may reach anywhere in their crate; they are not part of the layering.
        text = text.split("#[cfg(test)]")[0]
        for ref in references(text, a):
            b = ref
            while b and b not in known:
                b = b[:-1]
            if not b:
                continue
            k = 0
            while k < min(len(a), len(b)) and a[k] == b[k]:
                k += 1
            if k == len(a) or k == len(b):
                continue  # an ancestor or a descendant: not a sibling edge
            edges.setdefault(a[: k + 1], set()).add(b[: k + 1])
    cycles = []
    # Tarjan's SCC.
    index, low, stack, on, counter = {}, {}, [], set(), [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted("::".join(c) for c in comp))

    for v in list(edges):
        if v not in index:
            strong(v)
    return cycles


def main():
    bad = 0
    for crate in crates(sys.argv[1:]):
        for cyc in check(crate):
            bad += 1
            print(f"{crate.relative_to(ROOT)}: import cycle between {', '.join(cyc)}")
    if bad:
        sys.exit(1)
    print("check-module-cycles: no import cycle between the modules of any crate")


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    main()
