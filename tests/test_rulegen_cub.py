"""CUB rules against the real class-level attribute scores (data/cub)."""
import os
import shutil

import numpy as np
import pytest

from again_mln.datasets.cub import CBM_CONCEPTS_112, read_cub_scores
from again_mln.datasets.store import locate
from again_mln.errors import AgainError
from again_mln.again.mlnfile import format_mln, parse_mln
from again_mln.rulegen.cub import build_cub_rules
from again_mln.rulegen.kinds import CATEGORY_COEXISTENCE, CATEGORY_EXCLUSION, CONCEPT_COEXISTENCE, CONCEPT_EXCLUSION
from again_mln.rulegen.summary import summarize


pytestmark = pytest.mark.data("cub")


@pytest.fixture(scope="module")
def cub_rules(cub_folder):
    return build_cub_rules(cub_folder / "CUB_200_2011")


def test_default_counts_match_the_real_annotations(cub_rules):
    summary = summarize(cub_rules)
    assert summary.count(CATEGORY_COEXISTENCE) == 3664
    assert summary.count(CATEGORY_EXCLUSION) == 10812
    assert summary.count(CONCEPT_COEXISTENCE) == 161
    assert summary.count(CONCEPT_EXCLUSION) == 42
    assert (summary.concept_variables, summary.category_variables, summary.factors) == (112, 200, 14679)


def test_published_concept_list_agrees_with_the_data(cub_folder):
    cub = cub_folder
    if not (cub / "cbm_selected_concepts_112.txt").is_file() and os.environ.get("AGAIN_REQUIRE_DATA") != "1":
        pytest.skip("the published 112-concept list is only in the project's test data (AGAIN_DATA)")
    assert [int(t) for t in (cub / "cbm_selected_concepts_112.txt").read_text().split()] == list(CBM_CONCEPTS_112)
    names = (cub / "cbm_concept_names_112.txt").read_text().split()
    attributes = read_cub_scores(cub).attribute_names
    assert [attributes[i] for i in CBM_CONCEPTS_112] == names


def test_rules_name_attributes_and_classes_and_carry_prior_weights(cub_rules):
    assert cub_rules.concepts[0] == "has_bill_shape::dagger"
    assert cub_rules.categories[0] == "001.Black_footed_Albatross"
    first = cub_rules.rules[0]
    assert str(first.formula) == 'label("001.Black_footed_Albatross") => active("has_bill_shape::hooked_seabird")'
    score = read_cub_scores().scores[0, CBM_CONCEPTS_112[1]]
    assert first.weight == pytest.approx(np.log(score / (100 - score)), abs=1e-4)
    assert first.comments == (f"category-concept coexistence: score {score:.1f} %",)
    assert all(r.weight >= 0 for r in cub_rules.rules)
    assert any("3,664" in line for line in cub_rules.header)


def test_file_round_trip_keeps_rules_and_header(cub_rules):
    again = parse_mln(format_mln(cub_rules))
    assert again.header == cub_rules.header
    assert [r.formula for r in again.rules] == [r.formula for r in cub_rules.rules]
    assert [r.weight for r in again.rules] == [r.weight for r in cub_rules.rules]


def test_options_all_concepts_uniform_weights_paper_semantics():
    rules = build_cub_rules(concepts="all", weights="uniform", semantics="paper", coexist_above=90, exclude_below=1,
                            corr_above=0.95, corr_below=-0.9)
    assert len(rules.concepts) == 312
    assert {r.weight for r in rules.rules} == {1.0}
    assert all("<=>" in str(r.formula) for r in rules.rules)


def _cub_copy(tmp_path):
    """A writable CUB folder in the original archive's layout (attributes.txt beside it)."""
    source = locate("cub")
    cub = tmp_path / "CUB_200_2011"
    (cub / "attributes").mkdir(parents=True)
    shutil.copy(source / "CUB_200_2011" / "classes.txt", cub)
    shutil.copy(source / "attributes.txt", tmp_path)
    scores = (source / "CUB_200_2011" / "attributes" / "class_attribute_labels_continuous.txt").read_text()
    return cub, scores.splitlines()


def test_reads_a_standard_folder_and_rejects_bad_scores(tmp_path):
    cub, lines = _cub_copy(tmp_path)
    score_file = cub / "attributes" / "class_attribute_labels_continuous.txt"
    score_file.write_text("\n".join(lines) + "\n")
    assert read_cub_scores(cub).scores.shape == (200, 312)
    bad = lines.copy()
    bad[4] = bad[4].replace(bad[4].split()[7], "n/a", 1)
    score_file.write_text("\n".join(bad) + "\n")
    with pytest.raises(AgainError, match=r"class_attribute_labels_continuous.txt:5: 'n/a' is not a finite number"):
        build_cub_rules(cub)
    score_file.write_text("\n".join(lines[:9] + [lines[9] + " 1.0"] + lines[10:]) + "\n")
    with pytest.raises(AgainError, match=r":10: expected 312 scores, got 313"):
        build_cub_rules(cub)
    score_file.write_text("\n".join(lines[:150]) + "\n")
    with pytest.raises(AgainError, match=r"expected 200 rows"):
        build_cub_rules(cub)
    score_file.write_text("\n".join(["150 " + lines[0].split(" ", 1)[1]] + lines[1:]) + "\n")
    with pytest.raises(AgainError, match=r":1: expected association scores in \[0, 100\]"):
        build_cub_rules(cub)


def test_missing_files(tmp_path):
    cub, lines = _cub_copy(tmp_path)
    with pytest.raises(AgainError, match="class_attribute_labels_continuous.txt: file not found"):
        build_cub_rules(cub)
    (cub / "attributes" / "class_attribute_labels_continuous.txt").write_text("\n".join(lines))
    (tmp_path / "attributes.txt").unlink()
    with pytest.raises(AgainError, match="attributes.txt: file not found"):
        build_cub_rules(cub)


@pytest.mark.parametrize("option, value", [("coexist_above", 120.0), ("coexist_above", 40.0),
                                           ("exclude_below", -1.0), ("corr_above", 1.5), ("corr_below", 0.2)])
def test_thresholds_out_of_range(option, value):
    with pytest.raises(AgainError, match=f"{option.replace('_', '-')} = {value:g} is out of range"):
        build_cub_rules(**{option: value})
