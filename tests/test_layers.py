"""The tree is the architecture: imports go one way (faces → studio → storage), discord only in
the Discord face, SQL only in storage/, studio's base (ops and the shared modules) below its
domains, and no module imports itself back through another."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACES = ("bot", "shell", "demo", "cogs", "web")
DOMAINS = ("production", "generation", "review", "cut", "notion")
SQL = re.compile(r"^\s*(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                 r"CREATE\s+TABLE|PRAGMA)\b", re.IGNORECASE | re.DOTALL)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:` (they never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def imports_of(root: Path) -> dict[str, set[str]]:
    """Each project module and the project modules (and 'discord') it imports, lazy ones too."""
    graph: dict[str, set[str]] = {}
    known = {_module_name(p, root) for p in _sources(root)}
    for path in _sources(root):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_only(tree)
        found: set[str] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from package import module` depends on the module; a name, on the package.
                names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known
                         else node.module for a in node.names]
            for name in names:
                if name == "discord" or name.startswith("discord."):
                    found.add("discord")
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name:
                    found.add(name)
        me = _module_name(path, root)
        graph[me] = found - {me}
    return graph


def _sources(root: Path) -> list[Path]:
    files = [root / f"{name}.py" for name in ("bot", "shell", "demo")]
    for package in ("cogs", "web", "studio", "storage"):
        files += sorted((root / package).rglob("*.py"))
    return [f for f in files if f.exists()]


def _layer(module: str) -> str:
    return module.split(".")[0]


def problems(root: Path) -> list[str]:
    graph = imports_of(root)
    found: list[str] = []
    for module, targets in sorted(graph.items()):
        layer = _layer(module)
        for target in sorted(targets):
            if target == "discord":
                if layer not in ("cogs", "bot"):
                    found.append(f"{module} imports discord (only cogs/ and bot.py may)")
                continue
            up = _layer(target)
            if layer == "storage" and up != "storage":
                found.append(f"{module} imports {target}: storage/ is the bottom layer")
            if layer == "studio" and up in FACES:
                found.append(f"{module} imports {target}: studio/ never imports a face")
            if layer in ("cogs", "web") and up in FACES and up != layer:
                found.append(f"{module} imports {target}: the faces never import each other")
            if layer == "shell" and up == "bot":
                found.append(f"{module} imports {target}: the shell never imports the bot")
            parts, into = module.split("."), target.split(".")
            base = layer == "studio" and len(parts) > 1 and parts[1] not in DOMAINS
            if base and len(into) > 2 and into[0] == "studio" and into[1] in DOMAINS:
                found.append(f"{module} imports {target}: studio's base never imports a domain")
    found += [f"import circle: {' → '.join(c)}" for c in _cycles(graph)]
    for path in _sources(root):
        if _layer(_module_name(path, root)) == "storage":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and SQL.match(node.value):
                found.append(f"{_module_name(path, root)}:{node.lineno} holds SQL "
                             f"({node.value.split()[0]}): SQL lives in storage/")
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One path around each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
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
                groups.append([*sorted(group), sorted(group)[0]])

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_the_tree_keeps_its_layers() -> None:
    assert problems(ROOT) == []


def test_the_checker_catches_each_kind_of_wrong_import(tmp_path: Path) -> None:
    def write(name: str, text: str) -> None:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for package in ("studio", "studio/ops", "studio/cut", "storage", "cogs"):
        write(f"{package}/__init__.py", "")
    write("bot.py", "import shell\n")
    write("shell.py", "import bot\n")
    write("studio/cut/film.py", "import discord\nfrom studio.cut import build\n")
    write("studio/cut/build.py", "from studio.cut import film\nfrom cogs import common\n")
    write("studio/ops/health.py", "from studio.cut import film\n")
    write("storage/chapters.py", "from studio.cut import film\n")
    write("cogs/common.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
          "    from bot import SlateBot\nQ = 'SELECT id FROM chapter'\n")
    found = "\n".join(problems(tmp_path))
    assert "studio.cut.film imports discord" in found
    assert "storage.chapters imports studio.cut.film" in found
    assert "studio.cut.build imports cogs.common" in found
    assert "studio.ops.health imports studio.cut.film: studio's base" in found
    assert "shell imports bot" in found
    assert "import circle: bot → shell → bot" in found
    assert "import circle: studio.cut.build → studio.cut.film → studio.cut.build" in found
    assert "cogs.common:4 holds SQL" in found
    assert "cogs.common imports bot" not in found  # TYPE_CHECKING imports never run
