"""A wide rule must not make the switch allocate without bound: 300 two-concept rules and one rule
over 12 concepts (30 concepts, 5 categories) pad every rule's joint-flip table to 2**12 x 2**12
values, about 20 GB. ``rectify --strategy switch`` refuses in one line before allocating (and
before S_max is solved), in a child process whose address space is capped far below that."""
from __future__ import annotations

import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from again_mln.again.graph import FactorGraph
from again_mln.again.mlnfile import parse_mln
from again_mln.again.switch import check_switch_size
from again_mln.errors import AgainError

#: the child's address-space cap: far below the 20 GB the padded table asked for
CAP_BYTES = 6 * 2**30


def wide_rules() -> str:
    rng = random.Random(0)
    concepts, categories = [f'"c{m}"' for m in range(30)], [f'"y{k}"' for k in range(5)]
    lines = ["concept = {" + ", ".join(concepts) + "}", "category = {" + ", ".join(categories) + "}",
             "active(concept)", "label(category!)"]
    lines += [f"1.5 label({y}) => active({concepts[3 * k + j]})" for k, y in enumerate(categories) for j in range(3)]
    for _ in range(300):
        a, b = rng.sample(concepts, 2)
        lines.append(f"{rng.uniform(0.2, 2.0):.2f} active({a}) => active({b})")
    lines.append("0.8 " + " ^ ".join(f"active({c})" for c in concepts[:11]) + f" => active({concepts[11]})")
    return "\n".join(lines) + "\n"


def test_the_switch_size_is_checked_before_its_tables_exist():
    graph = FactorGraph(parse_mln(wide_rules()), device="cpu")
    assert graph.max_arity == 12
    with pytest.raises(AgainError, match=r'^the switch would need [\d.,]+ GiB .* rule .active\("c0"\) \^ .*. has 12 '
                                         r"concepts .* use --strategy map or marginal"):
        check_switch_size(graph)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS caps the child's memory on Linux")
def test_rectify_with_a_wide_rule_refuses_the_switch_in_one_line_quickly(tmp_path):
    (tmp_path / "wide.mln").write_text(wide_rules())
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "preds.npz", concepts=rng.random((200, 30)).astype(np.float32),
             categories=rng.integers(0, 5, 200))

    def rectify(strategy: str) -> tuple[subprocess.CompletedProcess, float]:
        start = time.perf_counter()
        done = subprocess.run([str(Path(sys.executable).with_name("again-mln")), "rectify", str(tmp_path / "preds.npz"),
                               "--mln", str(tmp_path / "wide.mln"), "-o", str(tmp_path / f"{strategy}.npz"),
                               "--strategy", strategy, "--device", "cpu", "--no-cache", "--quiet"],
                              capture_output=True, text=True, preexec_fn=_limit_memory, timeout=300)
        return done, time.perf_counter() - start

    refused, seconds = rectify("switch")
    assert refused.returncode == 1, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the switch would need") and "12 concepts" in lines[0]
    assert not (tmp_path / "switch.npz").exists()
    assert seconds < 30  # refused before the switch tables and before S_max (seconds of inference here)
