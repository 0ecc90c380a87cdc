"""The code stays easy to find one's way in: every folder of services/ holds a handful
of modules, and no module outgrows a reader's head. (The import direction is checked by
`lint-imports`, run by .ci/run with the contracts in pyproject.toml.)"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULES_PER_FOLDER = 12
MAX_LINES = 420


def test_no_services_folder_holds_more_than_a_dozen_modules():
    crowded = {}
    for folder in [ROOT / "services", *(p for p in (ROOT / "services").iterdir() if p.is_dir())]:
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        if len(modules) > MAX_MODULES_PER_FOLDER:
            crowded[folder.name] = len(modules)
    assert crowded == {}


def test_no_module_grows_past_a_few_hundred_lines():
    long = {}
    for top in ("services", "schema", "resolvers", "models"):
        for module in (ROOT / top).rglob("*.py"):
            lines = len(module.read_text().splitlines())
            if lines > MAX_LINES:
                long[str(module.relative_to(ROOT))] = lines
    assert long == {}
