"""Writes test/fixtures/lif_mlp.nir with NIR's own Python package (nir.write): a small network trained-as-SNN
style, Affine(64 → 32) → LIF → Linear(32 → 10) → Output, with snnTorch's NIR conventions (dt = 1e-4 s,
tau = dt / (1 - beta), r = tau / dt, v_leak = 0, v_reset = 0 (NIR's reset to v_reset), no dt in the file).
beta (the per-step leak λ) varies per neuron from 0.80 to 0.95. Weights are seeded random numbers, not
trained: the file exercises `snnc import-nir` on NIR's reader/writer, not accuracy.

Run at dev time (needs numpy, h5py and the nir package):  python3 fixtures-src/make_nir_lif.py
"""
import os

import nir
import numpy as np

if not hasattr(nir, "version"):  # a source checkout of NIR without package metadata (nir 1.0.8's layout)
    nir.version = nir.__version__ = "1.0.8"

rng = np.random.default_rng(16)
dt = 1e-4
beta = np.linspace(0.80, 0.95, 32).astype(np.float32)
tau = (dt / (1 - beta)).astype(np.float32)
r = (tau / dt).astype(np.float32)

graph = nir.NIRGraph(
    nodes={
        "input": nir.Input(input_type=np.array([64])),
        "fc1": nir.Affine(
            weight=rng.uniform(-0.12, 0.14, (32, 64)).astype(np.float32),
            bias=rng.uniform(-0.1, 0.1, 32).astype(np.float32),
        ),
        "lif1": nir.LIF(
            tau=tau,
            r=r,
            v_leak=np.zeros(32, np.float32),
            v_threshold=np.full(32, 1.0, np.float32),
            v_reset=np.zeros(32, np.float32),
        ),
        "fc2": nir.Linear(weight=rng.uniform(-0.5, 0.5, (10, 32)).astype(np.float32)),
        "output": nir.Output(output_type=np.array([10])),
    },
    edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "output")],
)
out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "lif_mlp.nir")
nir.write(out, graph)
back = nir.read(out)
print("wrote", os.path.normpath(out), sorted(back.nodes), type(back.nodes["lif1"]).__name__)
