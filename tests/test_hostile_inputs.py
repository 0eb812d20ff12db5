"""Every defect class of the hostile-input report, reproduced: each gives one clean ``Error:``
line naming what was read or written (or, for a byte-order mark, is read correctly)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.io.inputs import load_array
from again_mln.again.logic import MAX_RULE_CONCEPTS, unsatisfiable_categories
from again_mln.again.mlnfile import parse_mln, read_mln
from again_mln.mln.files import MAX_NESTING
from hostile import CSV, RULES, assert_clean, predictions, run, snapshot, training_data


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "r.mln").write_text(RULES)
    np.savez(tmp_path / "preds.npz", **predictions())
    np.savez(tmp_path / "train.npz", **training_data())
    (tmp_path / "t.csv").write_text(CSV)
    return tmp_path


def rectify(folder: Path, preds: str = "preds.npz", rules: str = "r.mln", output: str = "out.npz", *extra):
    before = snapshot(folder)
    result = run("rectify", folder / preds, "--mln", folder / rules, "-o", folder / output, "--no-cache", *extra)
    return result, before


def error_of(result) -> str:
    return [line for line in result.output.splitlines() if line.startswith("Error: ")][0]


# ------------------------------------------------------------------------------ parser limits
@pytest.mark.parametrize("formula", ["(" * 5000 + "active(A)" + ")" * 5000, "!" * 5000 + "active(A)"])
def test_deep_nesting_is_an_error_not_a_recursion_error(folder, formula):
    (folder / "deep.mln").write_text(RULES + f"1.0 {formula}\n")
    result, before = rectify(folder, rules="deep.mln")
    assert_clean(result, folder, before)
    assert f"deep.mln:10: formula nested deeper than {MAX_NESTING}" in error_of(result)


def test_nesting_up_to_the_limit_parses():
    depth = MAX_NESTING - 1
    ruleset = parse_mln(RULES + "1.0 " + "(" * depth + "!active(A)" + ")" * depth + "\n")
    assert ruleset.rules[-1].concept_names() == ("A",)


def test_a_rule_over_too_many_concepts_is_refused_before_compiling(folder):
    names = [f"C{i}" for i in range(40)]
    text = f"concept = {{{', '.join(names)}}}\ncategory = {{Y}}\n1.0 " + " ^ ".join(f"active({n})" for n in names) + "\n"
    (folder / "wide.mln").write_text(text)
    before = snapshot(folder)
    result = run("inspect", folder / "wide.mln")
    assert_clean(result, folder, before)
    assert f"wide.mln:3: a rule may read at most {MAX_RULE_CONCEPTS} distinct concepts, this one reads 40" \
        in error_of(result)
    ok = text.replace(" ^ ".join(f"active({n})" for n in names), " ^ ".join(f"active({n})" for n in names[:20]))
    assert len(parse_mln(ok).rules[0].concept_names()) == MAX_RULE_CONCEPTS


def test_padded_factor_tables_are_sized_before_they_are_allocated():
    """One 20-concept rule pads 300 pair rules of 200 categories to 2**20 entries each (250 GB)."""
    concepts = [f"C{i}" for i in range(24)]
    categories = [f"Y{k}" for k in range(200)]
    pairs = "".join(f"1.0 label(Y{k % 200}) => !(active(C{k % 23}) ^ active(C{k % 23 + 1}))\n" for k in range(300))
    wide = "1.0 " + " v ".join(f"active({n})" for n in concepts[:20]) + "\n"
    header = f"concept = {{{', '.join(concepts)}}}\ncategory = {{{', '.join(categories)}}}\n"
    with pytest.raises(AgainError, match=r"factor tables would need [\d,.]+ GiB: 301 rules .* widest, 20 concepts"):
        FactorGraph(parse_mln(header + pairs + wide), device="cpu")
    assert FactorGraph(parse_mln(header + pairs), device="cpu").max_arity == 2


def test_weights_must_fit_float32(folder):
    (folder / "big.mln").write_text(RULES + "1e39 label(Y) => active(B)\n")
    result, before = rectify(folder, rules="big.mln")
    assert_clean(result, folder, before)
    assert "big.mln:10: weight 1e+39 is not a finite number within float32 range" in error_of(result)
    (folder / "sum.mln").write_text(RULES + "3e38 label(Y) => active(B)\n3e38 label(Z) => active(B)\n")
    assert "the soft weights sum to more than float32" in error_of(rectify(folder, rules="sum.mln")[0])


def test_a_five_megabyte_token_is_cut_in_the_message(folder):
    (folder / "long.mln").write_text(RULES + "1.0 label(Y) => active(" + "Q" * 5_000_000 + ")\n")
    result, before = rectify(folder, rules="long.mln")
    assert_clean(result, folder, before)
    assert "long.mln:10: unknown concept 'QQQQ" in error_of(result) and "…" in error_of(result)


def test_duplicated_domain_names_name_the_file_and_line(folder):
    (folder / "dup.mln").write_text(RULES.replace("concept = {A, B, C}", "concept = {A, A, B, C}"))
    result, before = rectify(folder, rules="dup.mln")
    assert_clean(result, folder, before)
    assert "dup.mln:1: 'A' appears twice in the concept domain" in error_of(result)


def test_byte_order_mark_and_crlf_are_read(folder):
    (folder / "bom.mln").write_bytes(b"\xef\xbb\xbf" + RULES.replace("\n", "\r\n").encode())
    assert read_mln(folder / "bom.mln").rules == read_mln(folder / "r.mln").rules
    result, before = rectify(folder, rules="bom.mln")
    assert_clean(result, folder, before, folder / "out.npz")
    (folder / "bom.csv").write_bytes(b"\xef\xbb\xbf" + CSV.replace("\n", "\r\n").encode())
    before = snapshot(folder)
    result = run("build-rules", "--dataset", "table", "--table", folder / "bom.csv", "--category-column", "fever",
                 "--min-support", "1", "-o", folder / "from_bom.mln")
    assert_clean(result, folder, before, folder / "from_bom.mln")  # "fever" is found despite the mark


def test_a_duplicated_csv_header_names_the_file(folder):
    (folder / "dup.csv").write_text(CSV.replace("rash", "cough", 1))
    before = snapshot(folder)
    result = run("build-rules", "--dataset", "table", "--table", folder / "dup.csv", "--category-column",
                 "diagnosis", "-o", folder / "x.mln")
    assert_clean(result, folder, before)
    assert "dup.csv:1: the column name 'cough' appears twice in the header" in error_of(result)


# --------------------------------------------------------------------- unsatisfiable hard rules
CONTRADICTION = "label(Y) => active(A).\nlabel(Y) => !active(A).\n"


def test_contradictory_hard_rules_warn_when_read_and_fail_detection_of_that_category(folder):
    (folder / "bad.mln").write_text(RULES + CONTRADICTION)
    assert unsatisfiable_categories(read_mln(folder / "r.mln")) == ()
    with pytest.warns(UserWarning, match="contradict each other for 1 category"):
        assert unsatisfiable_categories(read_mln(folder / "bad.mln")) == ("Y",)
    before = snapshot(folder)
    result = run("inspect", folder / "bad.mln")
    assert result.exit_code == 0 and "Warning: " in result.output
    result, before = rectify(folder, rules="bad.mln")
    assert_clean(result, folder, before)
    assert "which the hard rules make impossible" in error_of(result)


def test_contradictions_spread_over_several_rules_and_all_categories_are_found():
    text = RULES + "active(A) => active(B).\nactive(B) => active(C).\nlabel(Y) => active(A) ^ !active(C).\n"
    with pytest.warns(UserWarning, match="for 1 category"):
        assert unsatisfiable_categories(parse_mln(text)) == ("Y",)
    with pytest.warns(UserWarning, match="for any category"):
        assert unsatisfiable_categories(parse_mln(RULES + "active(A) ^ !active(A).\n")) == ("Y", "Z")


def test_learning_on_data_of_an_impossible_category_is_an_error(folder):
    (folder / "bad.mln").write_text(RULES + CONTRADICTION)
    before = snapshot(folder)
    result = run("learn-weights", folder / "bad.mln", "--data", folder / "train.npz", "-o", folder / "w.mln")
    assert_clean(result, folder, before)
    assert "break the hard rule" in error_of(result)


# ------------------------------------------------------------------------------ array inputs
def test_truncated_npz_is_an_error_in_every_reader(folder):
    for name in ("preds.npz", "train.npz"):
        (folder / f"cut_{name}").write_bytes((folder / name).read_bytes()[:600])
    result, before = rectify(folder, preds="cut_preds.npz")
    assert_clean(result, folder, before)
    assert "cut_preds.npz" in error_of(result) and "corrupt" in error_of(result)
    result = run("learn-weights", folder / "r.mln", "--data", folder / "cut_train.npz", "-o", folder / "w.mln")
    assert_clean(result, folder, before)
    assert "cut_train.npz" in error_of(result)
    table = dict(training_data(), diagnosis=np.arange(40) % 2)
    np.savez(folder / "table.npz", **table)
    (folder / "cut_table.npz").write_bytes((folder / "table.npz").read_bytes()[:700])
    before = snapshot(folder)
    result = run("build-rules", "--dataset", "table", "--table", folder / "cut_table.npz", "--category-column",
                 "diagnosis", "-o", folder / "x.mln")
    assert_clean(result, folder, before)
    assert "cut_table.npz" in error_of(result)


@pytest.mark.parametrize("values, message", [
    (np.array([["0.1", "0.2", "0.3"]]), "got dtype <U3"),
    (np.array([[1 + 2j, 0, 0]]), "got dtype complex128"),
    (np.array([["2020-01-01"] * 3], dtype="datetime64[D]"), "got dtype datetime64[D]"),
    (np.zeros((1, 3), dtype=[("a", "f4"), ("b", "f4")]), "got dtype structured"),
    (np.zeros((0, 3)), "holds no values"),
    (np.array([[0.1, np.inf, 0.3]]), "NaN or infinity"),
])
def test_bad_prediction_arrays_are_errors(folder, values, message):
    arrays = dict(predictions(1), concepts=values)
    np.savez(folder / "bad.npz", **arrays)
    result, before = rectify(folder, preds="bad.npz")
    assert_clean(result, folder, before)
    assert "bad.npz[concepts]" in error_of(result) and message in error_of(result)


def test_object_arrays_are_refused_without_unpickling(folder):
    np.savez(folder / "obj.npz", **dict(predictions(1), concepts=np.array([[{"x": 1}, 0, 0]], dtype=object)))
    result, before = rectify(folder, preds="obj.npz")
    assert_clean(result, folder, before)
    assert "obj.npz[concepts]: expected bool, integer, unsigned integer, float values, got dtype object" \
        in error_of(result)


def test_string_category_scores_and_empty_npy_are_errors(folder):
    np.savez(folder / "s.npz", **dict(predictions(2), categories=np.array([["1", "0"], ["0", "1"]])))
    result, before = rectify(folder, preds="s.npz")
    assert_clean(result, folder, before)
    assert "s.npz[categories]" in error_of(result)
    np.save(folder / "empty.npy", np.zeros((0, 3)))
    np.save(folder / "cats.npy", np.zeros(0, dtype=int))
    result, before = rectify(folder, "empty.npy", "r.mln", "out.npz", "--categories", folder / "cats.npy")
    assert_clean(result, folder, before)
    assert "empty.npy: holds no values" in error_of(result)


def test_mislabelled_files_name_the_file(folder):
    np.save(folder / "plain.npy", predictions(3)["concepts"])
    os.replace(folder / "plain.npy", folder / "plain.npz")
    result, before = rectify(folder, preds="plain.npz")
    assert_clean(result, folder, before)
    assert "plain.npz: is a .npy file despite its name; rename it .npy" in error_of(result)
    (folder / "text.npy").write_text("0.1 0.2 0.3\n")
    result, before = rectify(folder, preds="text.npy")
    assert "text.npy: not a .npy or .npz file" in error_of(result)


def test_header_claiming_more_data_than_the_file_holds(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, 3)))
    data = bytearray((tmp_path / "a.npy").read_bytes())
    start = data.index(b"(4, 3)")
    data[start:start + 6] = b"(9, 3)"
    (tmp_path / "a.npy").write_bytes(bytes(data))
    with pytest.raises(AgainError, match=r"a.npy: truncated: shape \(9, 3\) needs 216 bytes"):
        load_array(tmp_path / "a.npy")


def test_memory_mapped_reading_of_npy_and_stored_npz_members(tmp_path):
    values = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "a.npy", values)
    np.savez(tmp_path / "b.npz", concepts=values, names=np.array(["x"]))
    np.savez_compressed(tmp_path / "c.npz", concepts=values)
    for path, key in ((tmp_path / "a.npy", None), (tmp_path / "b.npz", "concepts"), (tmp_path / "c.npz", "concepts")):
        mapped = load_array(path, key, mmap=True, ndim=2)
        np.testing.assert_array_equal(mapped, values)
    assert isinstance(load_array(tmp_path / "b.npz", "concepts", mmap=True), np.memmap)


# -------------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("output, message", [
    ("t.csv/out.npz", "is a file, not a folder"),
    ("missing/out.npz", "the output folder"),
    ("x" * 300 + ".npz", "the file name is longer than"),
    ("", "is a folder; expected a file name"),  # click and pathlib read '' as '.'
    (".", "is a directory"),  # caught by click: a usage error
])
def test_bad_output_paths_are_errors(folder, output, message):
    before = snapshot(folder)
    result = run("rectify", folder / "preds.npz", "--mln", folder / "r.mln", "--no-cache",
                 "-o", output if output in ("", ".") else folder / output)
    assert_clean(result, folder, before, usage_ok=output == ".")
    assert message in error_of(result)
    assert not (folder / "missing").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_an_error(folder):
    (folder / "ro").mkdir()
    (folder / "ro").chmod(0o500)
    result, before = rectify(folder, output="ro/out.npz")
    assert "is not writable" in error_of(result)


def test_inspect_graph_into_a_file_path_is_an_error(folder):
    before = snapshot(folder)
    result = run("inspect", folder / "r.mln", "--graph", folder / "t.csv" / "g.png")
    assert_clean(result, folder, before)
    assert "is a file, not a folder" in error_of(result)


@pytest.mark.parametrize("output", ["r.mln", "preds.npz"])
def test_an_output_never_replaces_an_input(folder, output):
    result, before = rectify(folder, output=output)
    assert_clean(result, folder, before)
    assert "is an input of this command; refusing to overwrite it" in error_of(result)
    (folder / "link.npz").symlink_to(folder / "preds.npz")
    result, before = rectify(folder, output="link.npz")
    assert "refusing to overwrite" in error_of(result)


def test_learn_weights_may_not_write_over_its_rules(folder):
    before = snapshot(folder)
    result = run("learn-weights", folder / "r.mln", "--data", folder / "train.npz", "-o", folder / "r.mln")
    assert_clean(result, folder, before)
    assert "refusing to overwrite" in error_of(result)


# ---------------------------------------------------------------------- options and guard
@pytest.mark.parametrize("option", [("--max-iter", "-5"), ("--prior-stdev", "0"), ("--prior-stdev", "nan")])
def test_learn_weights_options_are_checked(folder, option):
    before = snapshot(folder)
    result = run("learn-weights", folder / "r.mln", "--data", folder / "train.npz", "-o", folder / "w.mln", *option)
    assert_clean(result, folder, before, usage_ok=True)
    assert result.exit_code == 2 and error_of(result).startswith(f"Error: Invalid value for '{option[0]}'")


def test_checkpoint_without_model_config_is_an_error(tmp_path):
    import torch

    from again_mln.models.checkpoint import FORMAT

    torch.save({"format": FORMAT, "state_dict": {}}, tmp_path / "m.pt")
    before = snapshot(tmp_path)
    result = run("predict", tmp_path / "m.pt", "-o", tmp_path / "p.npz")
    assert_clean(result, tmp_path, before)
    assert "m.pt: the checkpoint has no 'model_config'" in error_of(result)


def test_unexpected_errors_are_one_line_unless_debugging(folder, monkeypatch):
    import again_mln.io.inputs

    def broken(*args, **kwargs):
        raise ZeroDivisionError("x" * 1000)

    monkeypatch.setattr(again_mln.io.inputs, "open_predictions", broken)
    result, before = rectify(folder)
    assert_clean(result, folder, before, unexpected_ok=True)
    assert error_of(result).startswith("Error: rectify: ZeroDivisionError: xxx")
    assert "--debug" in error_of(result)
    debug = run("--debug", "rectify", folder / "preds.npz", "--mln", folder / "r.mln", "-o", folder / "o.npz")
    assert isinstance(debug.exception, ZeroDivisionError)
    monkeypatch.setenv("AGAIN_DEBUG", "1")
    assert isinstance(run("rectify", folder / "preds.npz", "--mln", folder / "r.mln", "-o", folder / "o.npz").exception,
                      ZeroDivisionError)
