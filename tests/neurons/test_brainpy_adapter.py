"""brainpy.state models as neuro populations, checked against brainpy.state's own simulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import projections
from neuro.network import network, population
from neuro.run import scan_steps, simulate

brainpy = pytest.importorskip("brainpy")
brainstate = pytest.importorskip("brainstate")
import braintools  # noqa: E402
import brainunit as u  # noqa: E402

from neuro.neurons.brainpy_adapter import brainpy_neuron  # noqa: E402

N, T, DT = 5, 150, 0.1
MODELS = {
    "AdExIF": (lambda: brainpy.state.AdExIF(N), 800.0),
    "Izhikevich": (lambda: brainpy.state.Izhikevich(N), 40.0),
    "HH": (lambda: brainpy.state.HH(N, V_initializer=braintools.init.Constant(-65.0 * u.mV)), 8.0),
}


def own_simulation(model, xs, unit):
    """brainpy.state's own loop: ``update`` under ``environ.context`` inside ``for_loop``."""
    with brainstate.environ.context(dt=DT * u.ms):
        model.init_state(batch_size=xs.shape[1])

        def body(i, x):
            with brainstate.environ.context(t=(i + 1) * DT * u.ms):
                z = model.update(x * unit)
            return z, model.V.value.to_decimal(u.mV)

        zs, vs = brainstate.transform.for_loop(body, jnp.arange(xs.shape[0]), xs)
    return np.asarray(zs), np.asarray(vs)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_population_matches_brainpy_state(name):
    make, amplitude = MODELS[name]
    xs = amplitude * jax.random.uniform(jax.random.PRNGKey(1), (T, 2, N))
    cell = brainpy_neuron(make(), dt=DT)
    net = network({"p": population(cell, N)}, {"in": projections.dense("x", "p", jnp.eye(N))},
                  inputs={"x": N})
    rec = simulate(net, net.init_state(2), xs, monitors=("spikes.p", "v.p")).records
    z_ref, v_ref = own_simulation(make(), xs, cell.current_unit)
    assert z_ref.sum() >= 5, "the input must make the model fire"
    np.testing.assert_array_equal(np.asarray(rec["spikes.p"]), z_ref)
    np.testing.assert_allclose(np.asarray(rec["v.p"]), v_ref, rtol=1e-4, atol=1e-3)


def test_adapted_population_is_differentiable_and_composes_with_neuro_parts():
    from neuro import neurons, readouts

    cell = brainpy_neuron(brainpy.state.AdExIF(N), dt=DT)
    net = network({"p": population(cell, N), "q": population(neurons.lif(dt=DT), 3)},
                  {"in": projections.dense("x", "p", 900.0 * jnp.eye(N)),
                   "pq": projections.dense("p", "q", jnp.ones((N, 3)))},
                  readouts={"y": readouts.leaky("p", 2, w=jnp.ones((N, 2)), dt=DT)},
                  inputs={"x": N})
    xs = jax.random.uniform(jax.random.PRNGKey(2), (60, N))

    def loss(w):
        proj = dict(net.projections, **{"in": projections.dense("x", "p", w)})
        n2 = network(net.populations, proj, readouts=net.readouts, inputs={"x": N})
        _, rec = scan_steps(n2, n2.init_state(), xs, monitors=("readout.y",))
        return rec["readout.y"].sum()

    g = jax.grad(loss)(900.0 * jnp.eye(N))
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0


def test_bad_use_is_refused():
    cell = brainpy_neuron(brainpy.state.Izhikevich(N), dt=DT)
    with pytest.raises(ValueError, match="5 neurons"):
        cell.init_state((2, 4))
    from neuro.neurons import Drive

    state = cell.init_state(N)
    with pytest.raises(ValueError, match="current-based"):
        cell.step(state, Drive(jnp.zeros(N), jnp.zeros((1, N))))
    with pytest.raises(TypeError, match="brainpy.state neuron"):
        brainpy_neuron(object())
    with pytest.raises(ValueError, match="dt"):
        brainpy_neuron(brainpy.state.Izhikevich(N), dt=0.0)
