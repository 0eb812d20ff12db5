"""Rules from a user's concept table (.csv or .npz)."""
import numpy as np
import pytest

from again_mln.errors import AgainError
from again_mln.rulegen.table import build_table_rules, read_concept_table

CSV = "fever,cough,rash,diagnosis\n" + "1,1,0,flu\n" * 12 + "0,0,1,measles\n" * 12 + "1,0,1,measles\n"


def test_csv_and_npz_give_the_same_rules(tmp_path):
    csv_path = tmp_path / "t.csv"
    csv_path.write_text(CSV)
    table = read_concept_table(csv_path, "diagnosis")
    assert table.concept_names == ["fever", "cough", "rash"] and table.category_names == ["flu", "measles"]
    npz_path = tmp_path / "t.npz"
    np.savez(npz_path, concepts=table.concepts, diagnosis=np.array(table.category_names)[table.categories],
             concept_names=np.array(table.concept_names))
    from_csv = build_table_rules(csv_path, "diagnosis")
    from_npz = build_table_rules(npz_path, "diagnosis")
    assert [str(r.formula) for r in from_csv.rules] == [str(r.formula) for r in from_npz.rules]
    assert 'label("flu") => active("fever")' in {str(r.formula) for r in from_csv.rules}
    assert any("category column: diagnosis" in h for h in from_csv.header)


def test_integer_categories_sort_numerically_and_name_arrays(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, concepts=np.eye(3, dtype=int)[[0, 1, 2] * 5], y=np.array([10, 2, 1] * 5))
    table = read_concept_table(path, "y")
    assert table.category_names == ["1", "2", "10"] and table.concept_names == ["concept_0", "concept_1", "concept_2"]
    np.savez(path, concepts=np.eye(3, dtype=int)[[0, 1, 2] * 5], y=np.array([0, 1, 2] * 5),
             category_names=np.array(["Low", "Mid", "High"]))
    assert read_concept_table(path, "y").category_names == ["Low", "Mid", "High"]


@pytest.mark.parametrize("text, message", [
    ("a,b,y\n1,0,k\n", r"no column 'diagnosis'; the columns are a, b, y"),
    ("a,diagnosis\n1,k\n1\n", r"t.csv:3: expected 2 fields \(as in the header\), got 1"),
    ("a,diagnosis\n1,k\nyes,k\n", r"t.csv:3: column a: 'yes' is not a finite number"),
    ("a,diagnosis\n1,k\n0.5,k\n", r"t.csv:3: column a: expected 0 or 1, got 0.5"),
    ("a,diagnosis\n", r"t.csv: expected a header row and at least one data row"),
    ("diagnosis\nk\n", r"t.csv:1: no concept columns"),
])
def test_bad_csv(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(AgainError, match=message):
        read_concept_table(path, "diagnosis")


def test_bad_npz_and_paths(tmp_path):
    with pytest.raises(AgainError, match="missing.csv: no such file"):
        read_concept_table(tmp_path / "missing.csv", "y")
    other = tmp_path / "t.txt"
    other.write_text("x")
    with pytest.raises(AgainError, match=r"t.txt: expected a .csv or .npz"):
        read_concept_table(other, "y")
    path = tmp_path / "t.npz"
    np.savez(path, concepts=np.ones((4, 2)), y=np.zeros(3, int))
    with pytest.raises(AgainError, match=r"expected 'concepts' \(N, M\) and 'y' \(N,\)"):
        read_concept_table(path, "y")
    np.savez(path, concepts=np.full((4, 2), 2), y=np.zeros(4, int))
    with pytest.raises(AgainError, match="'concepts' row 0, column concept_0: expected 0 or 1, got 2"):
        read_concept_table(path, "y")
    np.savez(path, concepts=np.ones((4, 2)), y=np.zeros(4, int))
    with pytest.raises(AgainError, match="an array named 'category'"):
        read_concept_table(path, "category")
