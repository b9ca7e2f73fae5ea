#!/usr/bin/env python3
"""Fails when modules of a workspace crate import each other in a cycle.

Within each crate's library (`src/`, or the examples' folders), a file's module depends on the modules its `crate::…` and
`super::…` paths name (comments and `#[cfg(test)]` sections aside). A module using its own
ancestors is the normal shape of a Rust crate and does not count; any other cycle (a ↔ b, or
longer) does: it means two files can only be understood together, so one of them should give
the shared piece a module of its own. Pure text, no build needed.
"""
import os
import re
import sys

# Each crate's library root: `src/`, or the crate folder itself for the examples, whose folders
# hold one example each (a `main.rs` there is that example's binary, not a module).
CRATES = {"crates/tempering-core": "src", "crates/tempering-prune": "src",
          "crates/tempering-train": "src", "crates/tempering-cli": "src", "optimizers": "src",
          "models": "src", "datasets": "src", "examples": "."}


def modules(src_root):
    """Module path (tuple) -> source without comments or test sections."""
    found = {}
    for directory, subdirectories, names in os.walk(src_root):
        subdirectories[:] = [d for d in subdirectories if d not in ("tests", "target")]
        top = os.path.samefile(directory, src_root)
        for name in names:
            binary = directory.split(os.sep)[-1] == "bin" or (name == "main.rs" and not top)
            if not name.endswith(".rs") or binary:
                continue
            path = os.path.join(directory, name)
            parts = os.path.relpath(path, src_root)[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                parts = []
            with open(path, encoding="utf-8") as f:
                text = f.read().split("#[cfg(test)]")[0]
            code = "\n".join(line.split("//")[0] for line in text.splitlines())
            found[tuple(parts)] = code
    return found


def edges(found):
    graph = {m: set() for m in found}
    for module, code in found.items():
        for path in re.findall(r"\b((?:crate|super)(?:::[A-Za-z_0-9]+)+)", code):
            parts = path.split("::")
            if parts[0] == "crate":
                base, rest = [], parts[1:]
            else:
                base = list(module)
                while parts and parts[0] == "super":
                    base, parts = base[:-1], parts[1:]
                rest = parts
            full = base + rest
            target = next((tuple(full[:k]) for k in range(len(full), 0, -1)
                           if tuple(full[:k]) in found), None)
            if target is None or target == module or module[:len(target)] == target:
                continue  # unknown, itself, or an ancestor
            graph[module].add(target)
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(100000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return result


def main() -> int:
    failed = False
    for crate, root in CRATES.items():
        src = os.path.normpath(os.path.join(crate, root))
        if not os.path.isdir(src):
            continue
        for component in cycles(edges(modules(src))):
            names = sorted("::".join(m) or "(root)" for m in component)
            print(f"{crate}: modules import each other in a cycle: {', '.join(names)}")
            failed = True
    if not failed:
        print("no module cycles in", len(CRATES), "crates")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
