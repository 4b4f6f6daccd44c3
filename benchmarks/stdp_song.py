"""STDP: Song, Miller & Abbott (2000), 1000 Poisson inputs onto one neuron, additive STDP; neuro
against Brian2's STDP example (``examples/synapses/STDP.py``), in the same invocation.

Model (Brian2's example, after Song et al. 2000): conductance-based LIF ``tau_m dv/dt = g_e (E_e -
v) + E_l - v`` (tau_m = 10 ms, E_l = -74 mV, V_th = -54 mV, V_reset = -60 mV, E_e = 0 mV),
``tau_e = 5 ms``; N = 1000 inputs at F = 15 Hz; weights in [0, g_max], g_max = 0.01, start
uniform; trace STDP with tau_pre = tau_post = 20 ms, dA_pre = 0.01 g_max,
dA_post = -1.05 dA_pre. Euler at dt = 0.1 ms.

neuro builds it from public parts: :func:`neuro.neurons.conductance_lif`,
:func:`neuro.synapses.conductance_synapse`, a Dense input projection and
:func:`neuro.modulators.stdp` (additive, bounds [0, g_max]), run in :func:`neuro.run.scan_steps`
in chunks (the input is drawn per chunk). Brian2 runs its example unchanged (numpy target) in the
peer interpreter. Both report the final weight distribution: the fraction of weights near the
bounds (below 0.1 g_max or above 0.9 g_max), a histogram, and the output rate; the check is that
the distribution is bimodal and the fractions agree within 10 points.

    python benchmarks/stdp_song.py [--seconds 100] [--json FILE] [--peers-python PY]

Measured (100 s, seed 0, Brian2 2.9 numpy target, a loaded shared 2-core machine): near the
bounds neuro 0.258 low + 0.182 high = 0.440, Brian2 0.258 + 0.198 = 0.456 (1.6 points apart);
both bimodal (histograms in tenths of g_max: neuro 258 101 73 46 64 73 46 59 98 182, Brian2
258 92 68 55 53 61 52 60 103 198); output rate 24.3 Hz vs 24.5 Hz; wall 250 s vs 1275 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import emit, peer_with  # noqa: E402

N, F, GMAX, DT = 1000, 15.0, 0.01, 0.1
D_PRE = 0.01 * GMAX
D_POST = 1.05 * D_PRE


def summary(w: np.ndarray, spikes: int, seconds: float) -> dict:
    w = np.asarray(w, float) / GMAX
    hist, _ = np.histogram(w, bins=10, range=(0.0, 1.0))
    low, high = float(np.mean(w < 0.1)), float(np.mean(w > 0.9))
    return {"frac_low": low, "frac_high": high, "frac_near_bounds": low + high,
            "hist": hist.tolist(), "rate_hz": spikes / seconds,
            "bimodal": bool(hist[0] > hist[4:6].mean() and hist[-1] > hist[4:6].mean())}


def run_neuro(seconds: float, seed: int, chunk: int = 10_000) -> dict:
    import jax
    import jax.numpy as jnp

    from neuro import network as nw
    from neuro.modulators import stdp
    from neuro.neurons import conductance_lif
    from neuro.projections import dense
    from neuro.run import scan_steps
    from neuro.synapses import conductance_synapse

    rng = np.random.default_rng(seed)
    proj = dense("x", "out", (rng.random((N, 1)) * GMAX).astype(np.float32))
    neuron = conductance_lif(tau_m=10.0, v_rest=-74.0, v_reset=-60.0, v_th=-54.0,
                             reversal=(0.0,), dt=DT, tau_ref=0.0, method="euler")
    net = nw.network(
        {"out": nw.population(neuron, 1, synapse=conductance_synapse(tau=(5.0,), dt=DT))},
        {"in": proj},
        {"stdp": stdp(("in", proj), a_plus=D_PRE, a_minus=D_POST, tau_plus=20.0,
                      tau_minus=20.0, w_min=0.0, w_max=GMAX, dt=DT)},
        inputs={"x": N})
    run = jax.jit(lambda n, s, x: scan_steps(n, s, x, monitors=("spikes.out",)))
    state = net.init_state()
    # the neuron starts at rest (Brian2's example starts at v = 0 mV and fires once at once)
    steps, spikes = int(round(seconds * 1000 / DT)), 0
    p = F * DT / 1000
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        x = jnp.asarray((rng.random((n, N)) < p).astype(np.float32))
        state, rec = run(net, state, x)
        spikes += int(rec["spikes.out"].sum())
    return summary(np.asarray(state.modulators["stdp"].w)[:, 0], spikes, seconds)


BRIAN2_WORKER = r'''
import json, sys, time
from brian2 import *
seconds, seed = float(sys.argv[1]), int(sys.argv[2])
prefs.codegen.target = "numpy"
seed_ = seed
from brian2 import seed as b2seed
b2seed(seed_)
N = 1000
taum = 10*ms
taupre = 20*ms
taupost = taupre
Ee = 0*mV
vt = -54*mV
vr = -60*mV
El = -74*mV
taue = 5*ms
F = 15*Hz
gmax = .01
dApre = .01
dApost = -dApre * taupre / taupost * 1.05
dApost *= gmax
dApre *= gmax
eqs_neurons = """
dv/dt = (ge * (Ee-v) + El - v) / taum : volt
dge/dt = -ge / taue : 1
"""
poisson_input = PoissonGroup(N, rates=F)
neurons = NeuronGroup(1, eqs_neurons, threshold="v>vt", reset="v = vr", method="euler")
S = Synapses(poisson_input, neurons,
             """w : 1
                dApre/dt = -Apre / taupre : 1 (event-driven)
                dApost/dt = -Apost / taupost : 1 (event-driven)""",
             on_pre="""ge += w
                    Apre += dApre
                    w = clip(w + Apost, 0, gmax)""",
             on_post="""Apost += dApost
                     w = clip(w + Apre, 0, gmax)""")
S.connect()
S.w = "rand() * gmax"
mon = SpikeMonitor(neurons)
t0 = time.perf_counter()
run(seconds*second)
print("RESULT " + json.dumps({"w": list(map(float, S.w[:])), "spikes": int(mon.num_spikes),
                              "wall_s": time.perf_counter() - t0}))
'''


def run_brian2(python: str, seconds: float, seed: int) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "stdp_brian2.py"
        script.write_text(BRIAN2_WORKER)
        proc = subprocess.run([python, str(script), str(seconds), str(seed)],
                              capture_output=True, text=True, cwd=tmp)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            out = summary(np.asarray(r["w"]), r["spikes"], seconds)
            out["wall_s"] = r["wall_s"]
            return out
    print("Brian2 failed: " + " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:]))
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=100.0, help="biological seconds (100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peers-python", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ours = run_neuro(args.seconds, args.seed)
    ours["wall_s"] = time.perf_counter() - t0
    result = {"seconds": args.seconds, "neuro": ours}
    python = peer_with("brian2", args.peers_python)
    if python is not None:
        b2 = run_brian2(python, args.seconds, args.seed)
        if b2 is not None:
            result["brian2"] = b2
            result["diff_points"] = {
                k: 100 * abs(ours[k] - b2[k]) for k in ("frac_low", "frac_high",
                                                        "frac_near_bounds")}
    else:
        print("Brian2 is not available (pip install brian2 'numpy<2.4' in ./.venv-peers); "
              "skipped")
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
