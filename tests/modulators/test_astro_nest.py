"""Slow check: the tripartite Li-Rinzel astrocyte against NEST 3.10 (skipped without NEST)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location("astro_nest", ROOT / "benchmarks" / "astro_nest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_ca_and_sic_agree_with_nest(tmp_path):
    bench = _benchmark()
    if bench.peer_with("nest") is None:
        pytest.skip("NEST is not installed in the peer environment (./.venv-peers)")
    out = tmp_path / "nest.json"
    assert bench.main(["--seconds", "10", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    # stated tolerances (benchmarks/astro_nest.py): Ca and IP3 within 0.5% of the peak, the
    # network's SIC within 1% of the peak on average while on, on-time within 0.05 s
    assert r["ca"]["peak_nest"] > 0.3  # the run crosses SIC_th: a non-trivial comparison
    assert r["ca"]["max_rel_diff_of_peak"] < 5e-3
    assert r["ip3"]["max_rel_diff_of_peak"] < 5e-3
    assert r["sic"]["mean_abs_diff_while_on"] < 0.01 * r["sic"]["peak_nest"]
    assert abs(r["sic"]["time_on_s_nest"] - r["sic"]["time_on_s_neuro"]) < 0.05
