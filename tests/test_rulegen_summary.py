"""The Table-6 summary of any rule file, and the factor-graph drawing."""
from again_mln.again.mlnfile import parse_mln
from again_mln.rulegen.draw import draw_factor_graph, factor_graph_nx
from again_mln.rulegen.kinds import CATEGORY_EXCLUSION, CONCEPT_EXCLUSION, RuleKind
from again_mln.rulegen.summary import format_summary, summarize

TEXT = """
concept = {A, B, C}
category = {Y, Z}
active(concept)
label(category!)
1.0 label(Y) => !active(A)
2.0 !(active(B) <=> active(A))
0.5 active(A) => active(C)
label(Z) => active(A) ^ active(B).
"""


def test_counts_builder_forms_and_others():
    summary = summarize(parse_mln(TEXT))
    assert summary.count(CATEGORY_EXCLUSION) == 1 and summary.count(CONCEPT_EXCLUSION) == 1
    assert summary.count(RuleKind("concept-concept", "other")) == 1
    assert summary.count(RuleKind("category-concept", "other")) == 1
    assert (summary.hard, summary.factors, summary.concept_variables, summary.category_variables) == (1, 4, 3, 2)
    text = format_summary(summary, "t.mln")
    assert text.splitlines()[0] == "t.mln"
    assert "category-concept  other" in text and "factor graph      hard rules" in text


def test_factor_graph_view_and_drawing(tmp_path):
    ruleset = parse_mln(TEXT)
    graph = factor_graph_nx(ruleset)
    assert graph.number_of_nodes() == 3 + 2 + 4
    assert set(graph[("factor", 3)]) == {("category", "Z"), ("concept", "A"), ("concept", "B")}
    path = tmp_path / "g.png"
    draw_factor_graph(ruleset, path)
    assert path.read_bytes()[:4] == b"\x89PNG"
