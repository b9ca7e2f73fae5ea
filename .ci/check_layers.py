#!/usr/bin/env python3
"""Fails when a workspace crate depends on a tempering crate the layering forbids.

The layering (README, "Crates"): dependencies point one way, from examples down to core.
Only normal and build dependencies count; tests may use any crate (tempering-prune's tests
run its generic passes on the project's models). Reads `cargo metadata`, so it needs no build.
"""
import json
import subprocess
import sys

# crate -> tempering crates it may depend on; a crate listed in OPTIONAL may also be used as an
# optional dependency, behind a cargo feature that can be turned off (the CLI's
# `language-models`, which calibrated pruning needs, is on by default).
ALLOWED = {
    "tempering-core": set(),
    "tempering-optim": {"tempering-core"},
    "tempering-models": {"tempering-core"},
    "tempering-data": {"tempering-core"},
    "tempering-train": {"tempering-core", "tempering-optim"},
    "tempering-prune": {"tempering-core"},
    "tempering-cli": {"tempering-core", "tempering-prune"},
    "tempering-examples": None,  # the top: anything
}
OPTIONAL = {
    "tempering-cli": {"tempering-models", "tempering-data"},
}


def main() -> int:
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    ours = {p["name"] for p in metadata["packages"]}
    problems = []
    for package in metadata["packages"]:
        name = package["name"]
        if name not in ALLOWED:
            problems.append(f"{name}: not in the layering table of .ci/check_layers.py")
            continue
        allowed = ALLOWED[name]
        if allowed is None:
            continue
        for dep in package["dependencies"]:
            if dep["name"] not in ours or dep["kind"] == "dev":
                continue
            if dep["name"] in allowed:
                continue
            if dep["optional"] and dep["name"] in OPTIONAL.get(name, set()):
                continue
            problems.append(f"{name} depends on {dep['name']}, which the layering forbids")
    for line in problems:
        print(f"layering: {line}", file=sys.stderr)
    if not problems:
        print(f"layering: {len(ours)} crates checked, every dependency points down")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
