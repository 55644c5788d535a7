"""Duplicated and dead pieces found in review stay gone: one class per name, no hard-coded
subscriber labels in the pages, no helper that nothing calls."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ["core", "organizations", "events", "expenses", "accounting", "notifications", "audit", "webhooks",
        "observability", "web", "config"]


def _definitions() -> list[tuple[str, str]]:
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.Assign):
                    names = [t.id for t in node.targets if isinstance(t, ast.Name)] if isinstance(
                        node, ast.Assign) else [node.name]
                    found += [(name, str(path.relative_to(ROOT))) for name in names]
    return found


def test_one_permission_class_for_organisation_admins():
    where = [path for name, path in _definitions() if name == "IsOrgAdmin"]
    assert where == ["organizations/permissions.py"]


def test_pages_take_effect_labels_from_the_registry_and_dead_helpers_stay_removed():
    names = Counter(name for name, _ in _definitions())
    for gone in ("EFFECT_LABELS", "flash_error", "current_month", "to_json", "audit_trail_for_object", "org_today",
                 "_approved_in_month", "_reports_of"):
        assert names[gone] == 0, gone
    assert [path for name, path in _definitions() if name == "backoff_seconds"] == ["core/backoff.py"]
