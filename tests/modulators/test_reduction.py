"""Exact reduction: zero astrocyte gains and zero learning rates give the plain network."""

import jax
import jax.numpy as jnp
import numpy as np

from neuro import network as nw
from neuro import projections
from neuro.modulators import (
    astro_modulation,
    coverage_map,
    gordleeva_gain,
    hebbian,
    li_rinzel,
    oja,
    stdp,
    tripartite,
)
from neuro.neurons import alif
from neuro.run import scan_steps
from neuro.synapses import current_synapse


def test_all_modulators_at_zero_give_the_plain_network_bit_for_bit():
    n_in, n = 10, 24
    key = jax.random.PRNGKey(0)
    pin = projections.dense("x", "e", key=key, n_pre=n_in, n_post=n, gain=4.0)
    conn = projections.fixed_probability(2, n, n, 0.2, weights=0.3, allow_self=False)
    pee = projections.sparse("e", "e", conn)
    pei = projections.dense("e", "i", key=jax.random.PRNGKey(1), n_pre=n, n_post=6)
    pie = projections.dense("i", "e", -np.abs(np.random.default_rng(0).normal(0, 0.3, (6, n))))
    pops = {"e": nw.population(alif(thr=0.5, beta=0.2, tau_a=100.0), n,
                               synapse=current_synapse(tau=5.0)),
            "i": nw.population(alif(thr=0.5, beta=0.0), 6)}
    projs = {"in": pin, "ee": pee, "ei": pei, "ie": pie}
    rng = np.random.default_rng(1)
    A = (rng.random((5, n)) < 0.3).astype(float)
    A[np.arange(5), np.arange(5)] = 1.0  # many-to-many, overlapping
    mods = {
        "unit": astro_modulation("e", coverage_map(A), tau_c=30.0, drive_scale=3.0),
        "lr": tripartite("e", 4, synapses=("ee", pee), sic_gain=0.0,
                         astro=li_rinzel(delta_ip3=0.5, tau_ip3=10.0),
                         gordleeva=gordleeva_gain(aep=0.0)),
        "stdp": stdp(("ee", pee), a_plus=0.0, a_minus=0.0, w_min=0.0, w_max=1.0),
        "hebb": hebbian(("ei", pei), lr=0.0, decay=0.0),
        "oja": oja(("in", pin), lr=0.0),
    }
    plain = nw.network(pops, projs, inputs={"x": n_in})
    modded = nw.network(pops, projs, mods, inputs={"x": n_in})
    xs = (jax.random.uniform(key, (400, 2, n_in)) < 0.3).astype(jnp.float32)
    mon = ("spikes", "v")
    run = jax.jit(lambda net, s, x: scan_steps(net, s, x, monitors=mon))
    s_ref, ref = run(plain, plain.init_state(2), xs)
    s_mod, out = run(modded, modded.init_state(2), xs)
    for key_ in mon:
        for pop in ("e", "i"):
            np.testing.assert_array_equal(np.asarray(ref[key_][pop]), np.asarray(out[key_][pop]))
    assert float(ref["spikes"]["e"].mean()) > 0.02  # the network is active
    # the modulators did run: the astrocytes' state moved, the traces are non-zero
    assert float(jnp.abs(s_mod.modulators["unit"]).max()) > 0
    assert float(s_mod.modulators["lr"].astro.ip3.max()) > 0.17
    assert float(s_mod.modulators["stdp"].pre.max()) > 0
    np.testing.assert_array_equal(np.asarray(s_mod.modulators["stdp"].w),
                                  np.asarray(jnp.broadcast_to(pee.weights, pee.targets.shape)))
