"""Fuzz the command line: any argument list gives exit code 0 or 2 with a one-line message
(argparse usage errors, the shared checks of neuro.cli._common), never a traceback. The command
bodies are replaced by a stub (they are long computations); what is fuzzed is the parsing and the
machinery that runs before the work."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuro import cli

from .conftest import no_hang

FLAGS = {
    "simulate": ["coba", "cuba", "--neurons", "--duration", "--dt", "--record", "--backend",
                 "--variant", "--threads", "--seed"],
    "demo": ["--hidden", "--epochs", "--neuron", "--steps-per-row", "--seed"],
    "continual": ["--hidden", "--tasks", "--epochs", "--data", "--lr", "--checkpoint",
                  "--save", "--force-restart", "--method"],
    "memory": ["--hidden", "--delay", "--seeds", "--dt", "--group-size"],
    "prune": ["--neurons", "--sparsity", "--trials", "--scale", "--method"],
    "pipeline": ["--neurons", "--tasks", "--epochs", "--lr", "--sparsity", "--node-fraction"],
}
VALUES = st.one_of(st.sampled_from(["0", "-1", "1", "3", "inf", "-inf", "nan", "1e308",
                                    "2000000", "60000", "", "abc", "/tmp", "/nonexistent/x",
                                    "/proc/x.png", "x.abc", "fig", "--json", "event"]),
                   st.integers(-10**9, 10**12).map(str), st.floats().map(str),
                   st.text(max_size=4))


@st.composite
def argv(draw):
    command = draw(st.sampled_from(sorted(FLAGS)))
    out = [command]
    for _ in range(draw(st.integers(0, 5))):
        out.append(draw(st.one_of(st.sampled_from(FLAGS[command] + ["--plot", "--json",
                                                                    "--debug"]), VALUES)))
    return out


@pytest.fixture
def stubbed(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # relative --plot/--save names land here
    monkeypatch.setenv("NEURO_MEMORY_LIMIT", str(4 * 2**30))
    for name in FLAGS:
        module = __import__(f"neuro.cli.{name}", fromlist=["x"])
        monkeypatch.setattr(module, "run_memory" if name == "memory" else "run",
                            lambda args: {"ok": 1.0, "nan": float("nan")})


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(args=argv())
def test_any_arguments_give_exit_code_0_or_2_without_traceback(stubbed, capsys, args):
    with no_hang(10):
        try:
            code = cli.main(args)
        except SystemExit as exc:  # argparse: usage error (2) or --help (0)
            code = exc.code
    err = capsys.readouterr().err
    assert code in (0, 2), (args, code, err)
    if "--debug" not in args:
        assert "Traceback" not in err, (args, err)
