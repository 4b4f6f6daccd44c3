"""The README's "One network" example runs as written (so the front page never rots)."""

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_one_network_example_runs():
    text = README.read_text()
    start = text.index("## One network")
    body = text.index("```python", start) + len("```python")
    code = text[body:text.index("```", body)]
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    out = scope["out"]
    assert out.records["spikes.e"].shape == (100, 32, 800)
    assert out.records["readout.y"].shape == (100, 32, 10)
