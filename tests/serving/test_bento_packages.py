"""The Bento's package list carries everything the service's own code imports."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
OWN = {"features", "training", "serving", "strikeout", "__future__"}
NOT_IN_THE_SERVICE = {"serving/spark_scoring.py"}  # the Spark batch job: the `spark` extra


def _name(requirement: str) -> str:
    """A distribution's normalized name, from a requirement such as `psycopg[binary]==3.3`."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0]).lower()


def _imported_distributions() -> dict[str, str]:
    """Distribution -> a module of features/ or serving/ that imports it (lazy imports too)."""
    owners = packages_distributions()
    found: dict[str, str] = {}
    for folder in ("features", "serving"):
        for path in sorted((REPO / folder).rglob("*.py")):
            where = str(path.relative_to(REPO))
            if where in NOT_IN_THE_SERVICE:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    tops = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top in OWN or top in sys.stdlib_module_names:
                        continue
                    for distribution in owners.get(top, [top]):
                        found.setdefault(_name(distribution), where)
    return found


def _with_dependencies(names: set[str]) -> set[str]:
    """The distributions and everything they require when installed (extras aside)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = requires(name) or []
        except PackageNotFoundError:
            continue
        todo.extend(_name(r) for r in needs if "extra ==" not in r)
    return seen


def test_every_package_the_service_imports_is_installed_in_the_bento() -> None:
    spec = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    packed = _with_dependencies({_name(p) for p in spec["python"]["packages"]})
    imported = _imported_distributions()
    missing = {d: where for d, where in imported.items() if d not in packed}
    assert not missing, f"bentofile.yaml lacks packages the service imports: {missing}"
