"""The package's layout rules that no other test would catch: no import circle between its modules
(module-level imports, the ones that run on import), and inference that knows nothing of the graph."""
import ast
from pathlib import Path

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
    assert "again_mln.graph" in edges["again_mln.detection"]  # the checker sees real imports
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_inference_and_graph_do_not_import_each_other():
    edges = import_graph()
    inference = {name for name in edges if name.startswith("again_mln.inference")}
    assert not any("again_mln.graph" in edges[name] for name in inference)
    assert not edges["again_mln.graph"] & inference
