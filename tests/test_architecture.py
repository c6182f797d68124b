"""The layers of docs/architecture.md, checked against every import in jobboard/."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import jobboard.scripts
from jobboard import counters, primitives, records

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jobboard"
DOC = ROOT / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layers_from_doc() -> list[tuple[str, list[str]]]:
    """(layer, module patterns) rows of the "Layers" table, top first."""
    text = DOC.read_text()
    section = text.split("## Layers", 1)[1]
    rows = []
    for line in section.splitlines():
        m = re.match(r"\| ([a-z:]+) \| (.+) \|$", line)
        if m and m.group(1) != "layer":
            rows.append((m.group(1), re.findall(r"`([^`]+)`", m.group(2))))
    return rows


def layer_of(module: str, rows: list[tuple[str, list[str]]]) -> tuple[int, str]:
    """(rank, layer) of a module: rank 0 is the top."""
    for rank, (layer, patterns) in enumerate(rows):
        for pattern in patterns:
            if pattern.endswith("/"):
                package = pattern.rstrip("/").replace("/", ".")
                if module == package or module.startswith(package + "."):
                    return rank, layer
            elif module == pattern:
                return rank, layer
    raise AssertionError(f"{module} is in no layer of docs/architecture.md")


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Every jobboard module ``module`` imports, wherever the import statement is."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "jobboard")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "jobboard":
                continue
            for alias in node.names:  # `from . import auth` imports the module jobboard.x.auth
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return found


def edges() -> list[tuple[str, str]]:
    mods = modules()
    return [(m, t) for m, p in sorted(mods.items()) for t in sorted(imports(m, p, set(mods)))]


def test_every_module_has_a_layer() -> None:
    rows = layers_from_doc()
    assert [layer for layer, _ in rows][:2] == ["top", "adapter:web"]
    for module in modules():
        layer_of(module, rows)


def test_imports_only_go_down_and_adapters_never_import_each_other() -> None:
    rows = layers_from_doc()
    bad = []
    for source, target in edges():
        (s_rank, s_layer), (t_rank, t_layer) = layer_of(source, rows), layer_of(target, rows)
        if s_layer.startswith("adapter:") and t_layer.startswith("adapter:"):
            if s_layer != t_layer:
                bad.append(f"{source} -> {target} (adapter {s_layer} imports {t_layer})")
        elif t_rank < s_rank:
            bad.append(f"{source} -> {target} ({s_layer} imports the higher {t_layer})")
    assert not bad, "imports against docs/architecture.md:\n" + "\n".join(bad)


def test_the_walker_sees_function_local_imports(tmp_path: Path) -> None:
    # The check is only as good as the walk: a late import inside a function counts too.
    mod = tmp_path / "jobboard" / "shared" / "late.py"
    mod.parent.mkdir(parents=True)
    mod.write_text("def f():\n    from ..web import views\n    from .. import cli\n")
    found = imports("jobboard.shared.late", mod, {"jobboard.web.views", "jobboard.cli"})
    assert found == {"jobboard.web.views", "jobboard.cli"}


def test_lua_state_tables_mirror_records() -> None:
    """The scripts' prelude keeps its own copy of the state lists; they must agree."""
    prelude = jobboard.scripts.PRELUDE

    def lua_set(name: str) -> set[str]:
        body = re.search(rf"local {name} = \{{(.*?)\}}", prelude, re.S)
        assert body, name
        return set(re.findall(r"([a-z_]+)=true", body.group(1)))

    assert lua_set("FINISHED") == set(records.FINISHED_STATES)
    assert lua_set("INDEXED") == set(records.TASK_INDEXED_STATES)
    assert lua_set("FAILURES") == counters.FAILURE_STATES  # the consumer's own counts


def test_buckets_are_the_scripts_buckets(redis_client: Any) -> None:
    """counters.bucket() (the consumer's histograms) and the scripts' bucket() agree."""
    values = [0, 0.5, 1, 2, 3, 7, 8, 99, 100, 1000, 65_535, 10**7, 86_400_000]
    lua = redis_client.eval(jobboard.scripts.PRELUDE + """
local out = {}
for i = 2, #ARGV do out[#out + 1] = bucket(tonumber(ARGV[i])) end
return out""", 1, "jb:{q}:", *values)
    assert lua == [counters.bucket(v) for v in values]


def test_priority_stride_is_the_scripts_factor() -> None:
    stride = re.findall(r"-pri \* (\d+) \+ seq", jobboard.scripts.PRELUDE)
    assert stride and {int(s) for s in stride} == {primitives.PRIORITY_STRIDE}
    # Every score of the waiting set stays an exact double (below 2**53).
    biggest = primitives.PRIORITY_LIMIT * primitives.PRIORITY_STRIDE + primitives.PRIORITY_STRIDE
    assert biggest < 2**53
