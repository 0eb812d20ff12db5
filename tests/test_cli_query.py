"""``again-mln query`` on first-order files as a user runs it: the CSV and table, and bad input as
one line with file and line, exit status 1 and nothing written."""
import csv

import pytest
from click.testing import CliRunner

from again_mln.cli import main

SMOKING = """// pracmln's smokers
Friends(person, person)
Smokes(person)
Cancer(person)
0.646696 Smokes(x) => Cancer(x)
1.519900 Friends(x, y) => (Smokes(x) <=> Smokes(y))
"""
EVIDENCE = "Friends(Anna, Bob)\nFriends(Bob, Anna)\nSmokes(Anna)\n---\nFriends(Cy, Dee)\n!Smokes(Dee)\nCancer(Cy)\n"


def run(tmp_path, mln=SMOKING, db=EVIDENCE, *options):
    (tmp_path / "s.mln").write_text(mln)
    (tmp_path / "s.db").write_text(db)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["query", str(tmp_path / "s.mln"), "--evidence", str(tmp_path / "s.db"),
                                       "-o", str(out), *options])
    return result, out


def test_query_writes_every_ground_atom_of_each_database(tmp_path):
    result, out = run(tmp_path, SMOKING, EVIDENCE, "--queries", "Smokes,Cancer", "--closed-world", "Friends")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["database", "atom", "probability"]
    atoms = {(r[0], r[1]): float(r[2]) for r in rows[1:]}
    assert set(atoms) == {(str(d), f"{p}({x})") for d, people in ((0, ("Anna", "Bob")), (1, ("Cy", "Dee")))
                          for p in ("Smokes", "Cancer") for x in people}
    assert atoms["0", "Smokes(Anna)"] == 1.0 and atoms["1", "Smokes(Dee)"] == 0.0 and atoms["1", "Cancer(Cy)"] == 1.0
    assert 0.5 < atoms["0", "Smokes(Bob)"] < 1.0  # a smoker's friend
    assert "Smokes(Bob)" in result.output and "database 1:" in result.output


def test_map_writes_values(tmp_path):
    result, out = run(tmp_path, SMOKING, EVIDENCE, "--queries", "Smokes", "--closed-world", "Friends", "--method", "map")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    assert rows[0][2] == "value" and {r[2] for r in rows[1:]} <= {"0", "1"}


@pytest.mark.parametrize("mln, db, options, message", [
    (SMOKING + "1 (Smokes(x) ^ Cancer(x)\n", EVIDENCE, (), "s.mln:7: "),
    (SMOKING + "1 Smokes(x, y)\n", EVIDENCE, (), "s.mln:7: Smokes takes 1 argument"),
    (SMOKING, EVIDENCE + "Drinks(Cy)\n", (), "s.db:8: unknown predicate 'Drinks'"),
    (SMOKING, EVIDENCE, ("--closed-world", "Frends"), "--closed-world names undeclared predicate(s): Frends"),
    (SMOKING, EVIDENCE, ("--queries", "Cancr"), "unknown query predicate(s): Cancr"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, mln, db, options, message):
    result, out = run(tmp_path, mln, db, *options)
    assert result.exit_code == 1
    error = result.output.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("Error: ") and message in error[0], result.output
    assert not out.exists()
