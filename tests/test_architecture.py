"""Dependencies point one way: web -> engine -> forms; engine and forms never import Flask or web."""
import ast

from engine.config import ROOT


def imports_of(package):
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module.split(".")[0]


def test_engine_and_forms_never_import_flask_or_web():
    for package in ("engine", "forms"):
        for path, module in imports_of(package):
            assert module not in ("flask", "web", "werkzeug"), f"{path} imports {module}"


def test_forms_do_not_import_the_engine():
    for path, module in imports_of("forms"):
        assert module != "engine", path


def test_nothing_imports_web_and_web_has_no_database_or_engine_library_imports():
    for package in ("engine", "forms", "cli"):
        for path, module in imports_of(package):
            assert module != "web", f"{path} imports web"
    for path, module in imports_of("web"):
        assert module not in ("sqlalchemy", "SpiffWorkflow"), f"{path} imports {module}"
