"""The code stays easy to find one's way in: every folder of the product holds a handful
of modules, and no module outgrows a reader's head. (The import direction, the order
of the domains included, is checked by `lint-imports`, run by .ci/run with the
contracts in pyproject.toml.)"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("services", "schema", "resolvers", "models")
MAX_MODULES_PER_FOLDER = 12
MAX_LINES = 400
GENERATED = ROOT / "services" / "gateway" / "engine"  # gRPC code, not written by us


def _folders() -> list[Path]:
    found = []
    for top in PRODUCT:
        found += [ROOT / top, *(p for p in (ROOT / top).rglob("*") if p.is_dir())]
    return [f for f in found if f != GENERATED and "__pycache__" not in f.parts]


def test_no_folder_of_the_product_holds_more_than_a_dozen_modules():
    crowded = {}
    for folder in _folders():
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        if len(modules) > MAX_MODULES_PER_FOLDER:
            crowded[str(folder.relative_to(ROOT))] = len(modules)
    assert crowded == {}


def test_no_module_passes_four_hundred_lines():
    long = {}
    for top in PRODUCT:
        for module in (ROOT / top).rglob("*.py"):
            lines = len(module.read_text().splitlines())
            if lines > MAX_LINES and GENERATED not in module.parents:
                long[str(module.relative_to(ROOT))] = lines
    assert long == {}
    assert len((ROOT / "main.py").read_text().splitlines()) <= MAX_LINES
