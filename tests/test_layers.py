"""The package's arrows point down: each part of ``wukong`` imports only the parts below it.

Read from the source (every ``import``/``from`` of a ``wukong`` module, at any depth), not from
what happens to be imported at run time. A wrong arrow fails with the file and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

RUNTIME = Path(__file__).resolve().parent.parent / "runtime"

# part -> the parts it may import (itself always). Top-level modules are parts of their own.
ALLOWED = {
    "errors": set(),
    "aws_sdk": {"errors"},  # the one import of boto3, naming the wukong[aws] extra when it is missing
    "config": {"errors"},
    "protocol": {"config", "errors"},
    "storage": {"protocol", "aws_sdk", "config", "errors"},
    "testhooks": {"storage", "config", "errors"},
    "invokers": {"protocol", "aws_sdk", "config", "errors", "platforms"},
    "aws": {"aws_sdk", "storage", "config", "errors"},
    "diagnostics": {"protocol", "config", "errors"},
    "proxy": {"protocol", "platforms", "storage", "invokers", "config", "errors"},
    # the seam: builds stores and invokers; on AWS a job's KVS nodes come from Cloud Map (aws.kvs_nodes)
    "platforms": {"storage", "invokers", "proxy", "aws", "testhooks", "config", "errors"},
    "executor": {"protocol", "storage", "platforms", "testhooks", "config", "errors"},
    # the tasks executors run for futures (load, store), reaching the executor's stores
    "futures": {"executor", "storage", "errors"},
    "scheduler": {
        "protocol",
        "diagnostics",
        "storage",
        "platforms",
        "futures",
        "config",
        "errors",
        "local",
    },
    "local": {
        "executor",
        "proxy",
        "aws",
        "aws_sdk",
        "platforms",
        "storage",
        "protocol",
        "testhooks",
        "config",
        "errors",
    },
    "__init__": {"config", "errors", "local", "scheduler"},
}


def part_of(path: Path) -> str:
    relative = path.relative_to(RUNTIME)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(path: Path) -> list[tuple[int, str]]:
    """(line, part of wukong) for every import of a wukong module in ``path``."""
    package = list(path.relative_to(RUNTIME).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                names = [target] if node.module else [target + [alias.name] for alias in node.names]
            elif node.module and node.module.split(".")[0] == "wukong":
                names = [node.module.split(".")[1:]]
            else:
                continue
            found += [(node.lineno, name[0] if name else "__init__") for name in names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "wukong" and len(parts) > 1:
                    found.append((node.lineno, parts[1]))
    return found


def test_every_import_points_down():
    wrong = []
    for path in sorted(RUNTIME.rglob("*.py")):
        part = part_of(path)
        allowed = ALLOWED[part] | {part}
        for line, target in imported_parts(path):
            if target not in allowed:
                wrong.append(f"{path.relative_to(RUNTIME)}:{line}: {part} imports {target}")
    assert wrong == []


def test_the_issue_arrows_in_particular():
    """proxy/ imports neither local/ nor executor/; protocol/ imports neither invokers/ nor storage/."""
    assert not ALLOWED["proxy"] & {"local", "executor"}
    assert not ALLOWED["protocol"] & {"invokers", "storage"}
    assert not ALLOWED["executor"] & {"scheduler", "local", "proxy"}


def test_the_checker_sees_a_wrong_arrow(tmp_path, monkeypatch):
    bad = RUNTIME / "protocol" / "_wrong_arrow_probe.py"
    bad.write_text("from ..storage import keys\nfrom wukong.invokers import LocalInvoker\n")
    try:
        found = imported_parts(bad)
    finally:
        bad.unlink()
    assert [target for _, target in found] == ["storage", "invokers"]
