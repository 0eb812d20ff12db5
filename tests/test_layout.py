"""The package's layout rules that no other test would catch: no import circle between its modules
(module-level imports, the ones that run on import), inference that knows nothing of the graph, an
engine (``mln``, ``inference``) that imports nothing from the layers above it, and a public API
per layer that costs nothing to import."""
import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import again_mln

PACKAGE = Path(again_mln.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports at module level (importing a.b.c also runs a.b)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                while target.startswith("again_mln."):  # the module and every package above it
                    if target in files and target != name and not name.startswith(target + "."):
                        edges[name].add(target)
                    target = target.rsplit(".", 1)[0]
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_import_graph_checker_finds_a_planted_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_in_the_package():
    edges = import_graph()
    assert "again_mln.again.graph" in edges["again_mln.again.detection"]  # the checker sees real imports
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_inference_and_graph_do_not_import_each_other():
    edges = import_graph()
    inference = {name for name in edges if name.startswith("again_mln.mln.inference")}
    assert not any("again_mln.again.graph" in edges[name] for name in inference)
    assert not edges["again_mln.again.graph"] & inference


# The engine (the first-order Markov logic engine and its exact inference) is a layer of its own:
# nothing in it may reach up into the AGAIN method, its evaluation or the applications.
ENGINE = ("again_mln.mln", "again_mln.mln.inference")
ABOVE_THE_ENGINE = ("again_mln.again", "again_mln.evaluation", "again_mln.models", "again_mln.datasets",
                    "again_mln.rulegen", "again_mln.cli")


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module name an AST imports anywhere (module level, inside functions, under ``if``),
    relative imports resolved, ``from a import b`` counted as ``a`` and ``a.b``, and the constant
    names passed to ``importlib.import_module`` or ``__import__``."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:
                parent = base[: len(base) - (node.level - 1)]
                origin = ".".join([*parent, origin] if origin else parent)
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None) in
                   ("import_module", "__import__"))):
            found.add(node.args[0].value)
    return found


def reaches(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_layer_checker_sees_every_kind_of_import():
    source = """
import again_mln.cli
def f():
    from again_mln import again
    from ..evaluation import metrics
    importlib.import_module("again_mln.rulegen.kinds")
if True:
    from again_mln.models.cbm import ConceptModel
"""
    names = imported_names(ast.parse(source), "again_mln.mln.files", is_package=False)
    caught = {p for p in ABOVE_THE_ENGINE if any(reaches(n, (p,)) for n in names)}
    assert caught == {"again_mln.cli", "again_mln.again", "again_mln.evaluation", "again_mln.rulegen", "again_mln.models"}
    assert not any(reaches(n, ABOVE_THE_ENGINE) for n in imported_names(
        ast.parse("from again_mln.errors import AgainError\nfrom again_mln.mln.factors import FactorView\n"
                  "from again_mln.mln.model import MLN\nfrom . import syntax"), "again_mln.mln.files", False))


def test_the_engine_imports_nothing_from_the_layers_above_it():
    engine = [p for p in PACKAGE.rglob("*.py") if reaches(module_name(p), ENGINE)]
    assert {module_name(p) for p in engine} >= {"again_mln.mln", "again_mln.mln.inference", "again_mln.mln.inference.planner"}
    wrong = sorted(f"{module_name(p)} imports {name}" for p in engine
                   for name in imported_names(ast.parse(p.read_text()), module_name(p), p.name == "__init__.py")
                   if reaches(name, ABOVE_THE_ENGINE))
    assert not wrong, "; ".join(wrong)


LAYERS = ("again_mln.mln", "again_mln.again", "again_mln.evaluation", "again_mln.io")


@pytest.mark.parametrize("package", LAYERS)
def test_each_layer_names_its_public_api(package):
    """Every name in ``__all__`` resolves, none is also a submodule's name (importing the submodule
    would replace it), and the package says what the layer is."""
    module = importlib.import_module(package)
    assert module.__doc__ and len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert getattr(module, name) is not None
        assert name in dir(module)
    folder = PACKAGE / package.split(".", 1)[1]
    assert not set(module.__all__) & {p.stem for p in folder.glob("*.py")}
    with pytest.raises(AttributeError):
        getattr(module, "no_such_name")


def test_importing_a_layer_imports_no_heavy_module():
    probe = ("import sys\nimport " + ", ".join(LAYERS) + "\n"
             "print(sorted(m for m in ('torch', 'numpy', 'scipy', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_reference_engines_read_no_again_type():
    """``engines/`` runs pracmln on files; the AGAIN schema's adapter lives in ``again/``."""
    engines = [p for p in PACKAGE.rglob("*.py") if reaches(module_name(p), ("again_mln.engines",))]
    assert engines
    wrong = sorted(f"{module_name(p)} imports {name}" for p in engines
                   for name in imported_names(ast.parse(p.read_text()), module_name(p), p.name == "__init__.py")
                   if reaches(name, ABOVE_THE_ENGINE))
    assert not wrong, "; ".join(wrong)
