#!/usr/bin/env python3
# @@HEADER@@
"""A Tangent Lab experiment as a standalone PyTorch program.

It builds the experiment's network (the same layers, activations, parameterization and initial
parameters theta0), embeds its data, and computes the quantities of the lab's headless runner
(`npm run --silent lab -- run spec.json`) with plain autograd: outputs and losses, the loss
gradient, the per-example Jacobian, the empirical NTK (full, traced over outputs, per layer),
kernel-target and NTK-target alignments, NTK spectra, the Fisher / GGN, KFAC and EKFAC per
layer, and the training of the network and of its linearization at theta0 (alpha-scaled, with
the lab's optimizers and minibatch order). The result JSON has the runner's keys, nesting and
shapes, so `npm run --silent lab -- compare result.json fixture.json` reads it.

Every formula follows the lab's definitions (fixture README in the lab's repository, section
numbers below): parameter layout [W | b] row-major per layer (1), example-major Jacobian rows
i*c + k (2), means over examples (3), the Fisher with the softmax metric (4), KFAC / EKFAC (5, 6),
alignments (7, 9), training with alpha (8), spectra (10), kernel movement probes (11) and the
closed-form lazy prediction (12).

Usage:
    python3 this_script.py [--out result.json] [--device cpu|cuda] [--dtype float64|float32]
    python3 this_script.py --help      all options
    python3 this_script.py --scale     how to grow n and the width

Needs torch >= 1.13 and numpy, nothing else (Debian: apt-get install python3-torch).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# @@EXPERIMENT@@

RESULT_KEYS = [
    "theta", "outputs", "outputs_test", "loss", "loss_test", "per_example_loss", "loss_grad",
    "jacobian", "ntk", "ntk_trace", "ntk_trace_per_layer", "alignment", "ntk_spectrum",
    "ntk_trace_spectrum", "fisher", "fisher_trace", "fisher_frobenius", "kfac", "train",
]

SCALE_HELP = """How to grow this experiment (n, width) and run it on a cluster GPU

  python3 SCRIPT --device cuda --dtype float32 --out result.json

Width. Edit LAYERS (dense "units", conv2d "filters"). THETA0 then no longer fits the model:
  pass --init standard (PyTorch's default U(+-1/sqrt(fan_in)), weights times --init-gain) or
  --init ntk (N(0, 1), for PARAMETERIZATION = "ntk") with --init-seed S. These draw theta0
  with the lab's own generator (xoshiro128**, init_theta below): the same seed gives the lab's
  values (bit for bit for "standard"; "ntk" may differ in the last bit of log / cos).

n. Replace the body of data() with your loader: it must return x of shape (n, *INPUT_SHAPE),
  targets y (mse: (n, c) floats; cross_entropy: n integer labels in 0..c-1) and the same for the
  test set (or n_test = 0). The embedded X_TRAIN ... Y_TEST are only this spec's small sample.

Cost and memory (N = n*c rows, P parameters, float64 = 8 bytes per number):
  jacobian               N x P           keep it off (--compute without "jacobian") at scale
  ntk, ntk_* , alignment N x N           the kernel is formed; one layer's kernel at a time
  fisher                 P x P           only when P <= OPTIONS["fisher_max_params"]
  kfac                   per layer N x P_l, blocks only when P_l <= OPTIONS["block_max_params"]
  train                  a Jacobian per checkpoint (the probes); steps cost one forward and
                         ~3 backward passes per model (the linearized model uses a double-
                         backward JVP: its Jacobian is never stored)
  --chunk B              per-example gradients take B examples at a time (B*P numbers for the
                         per-example parameter copies): lower it when memory runs out
  --compute k1,k2        compute only some keys (e.g. --compute loss,ntk_spectrum,train)

Precision. float64 (default) reproduces the lab's float64 references to ~1e-10; --dtype float32
  runs the network in float32 (the lab's GPU precision; the fixture README's float32 tolerances
  apply) and still takes eigenvalues and large reductions in float64.
"""


# ---- the network ------------------------------------------------------------------------------

def prod(values):
    out = 1
    for v in values:
        out *= v
    return out


def plan_model(input_shape, layers, parameterization, sigma_w, sigma_b):
    """Shapes and parameter offsets of every layer (the lab's src/model/layout.ts).

    Parametrized layer l owns theta[offset : offset + size], its augmented matrix [W_flat | b]
    of shape (out, fan_in + 1) flattened row-major; conv weights are flattened in (cin, kh, kw)
    order, like torch's unfold. Under the NTK parameterization the layer computes
    s = (sigma_w / sqrt(fan_in)) W a + sigma_b b (w_mul, b_mul); otherwise s = W a + b.
    Returns (plan, P, c)."""
    shape = list(input_shape)
    plan, offset = [], 0
    for index, spec in enumerate(layers):
        kind = spec["type"]
        entry = {"kind": kind, "layer_index": index, "in_shape": shape}
        if kind in ("dense", "conv2d"):
            if kind == "dense":
                fan_in, out, positions = prod(shape), spec["units"], 1
                out_shape = [out]
            else:
                if len(shape) != 3:
                    raise ValueError(f"LAYERS[{index}]: conv2d needs an image input [C, H, W], got {shape}")
                cin, h, w = shape
                k, stride, padding = spec["kernel"], spec.get("stride", 1), spec.get("padding", 0)
                if k > h + 2 * padding or k > w + 2 * padding:
                    raise ValueError(f"LAYERS[{index}]: kernel {k} is larger than the padded input")
                h_out, w_out = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
                fan_in, out, positions = cin * k * k, spec["filters"], h_out * w_out
                out_shape = [out, h_out, w_out]
                entry.update(cin=cin, kernel=k, stride=stride, padding=padding)
            ntk = parameterization == "ntk"
            entry.update(
                activation=spec["activation"], fan_in=fan_in, out=out, positions=positions,
                offset=offset, size=out * (fan_in + 1),
                w_mul=sigma_w / math.sqrt(fan_in) if ntk else 1.0, b_mul=sigma_b if ntk else 1.0,
            )
            offset += entry["size"]
        elif kind == "avgpool2d":
            if len(shape) != 3 or spec["size"] > min(shape[1], shape[2]):
                raise ValueError(f"LAYERS[{index}]: avgpool2d needs an image input at least {spec['size']} wide")
            entry["pool"] = spec["size"]
            out_shape = [shape[0], shape[1] // spec["size"], shape[2] // spec["size"]]
        elif kind == "flatten":
            out_shape = [prod(shape)]
        else:
            raise ValueError(f"LAYERS[{index}]: unknown layer type {kind!r}")
        entry["out_shape"] = out_shape
        plan.append(entry)
        shape = out_shape
    if len(shape) != 1:
        raise ValueError(f"the last layer must give a vector (end with dense or flatten), got shape {shape}")
    return plan, offset, shape[0]


PLAN, P, C = plan_model(INPUT_SHAPE, LAYERS, PARAMETERIZATION, SIGMA_W, SIGMA_B)
PARAM_LAYERS = [layer for layer in PLAN if layer["kind"] in ("dense", "conv2d")]
ACTIVATIONS = {"linear": lambda s: s, "tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}


def model(theta, x, record=None):
    """The network f(x; theta) on a batch x of shape (n, *INPUT_SHAPE); returns (n, c).

    theta is the flat parameter vector (P,), or (n, P): one copy of the parameters per example,
    which is how jacobian() gets per-example gradients out of plain autograd. `record`, a list,
    receives (layer input, pre-activation) of every parametrized layer."""
    per_example = theta.dim() == 2
    n = x.shape[0]
    a = x
    for layer in PLAN:
        kind = layer["kind"]
        if kind == "avgpool2d":
            a = F.avg_pool2d(a, layer["pool"])  # q x q windows, stride q, floor
            continue
        if kind == "flatten":
            a = a.reshape(n, -1)  # C-order over (C, H, W)
            continue
        out, fan_in = layer["out"], layer["fan_in"]
        Wb = theta[..., layer["offset"]:layer["offset"] + layer["size"]]
        Wb = Wb.reshape(tuple(theta.shape[:-1]) + (out, fan_in + 1))
        W = layer["w_mul"] * Wb[..., :fan_in]
        b = layer["b_mul"] * Wb[..., fan_in]
        if kind == "dense":
            a = a.reshape(n, -1)
            s = torch.einsum("noi,ni->no", W, a) + b if per_example else F.linear(a, W, b)
        else:
            k, cin = layer["kernel"], layer["cin"]
            conv = dict(stride=layer["stride"], padding=layer["padding"])
            if per_example:  # one group per example: example i meets its own copy of the filters
                s = F.conv2d(a.reshape((1, n * cin) + tuple(a.shape[2:])), W.reshape(n * out, cin, k, k),
                             b.reshape(n * out), groups=n, **conv)
                s = s.reshape((n, out) + tuple(s.shape[2:]))
            else:
                s = F.conv2d(a, W.reshape(out, cin, k, k), b, **conv)
        if record is not None:
            record.append((a, s))
        a = ACTIVATIONS[layer["activation"]](s)
    return a


def init_theta(scheme, seed, gain):
    """Seeded theta0 drawn as the lab draws it (src/model/init.ts), layer by layer, row by row in
    the [W | b] layout, from one xoshiro128** stream: "standard" is U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) (weights times gain), "ntk" is N(0, 1) (weights times gain)."""
    rng = Rng(seed)
    theta = []
    for layer in PARAM_LAYERS:
        fan_in = layer["fan_in"]
        bound = 1 / math.sqrt(fan_in)
        for _ in range(layer["out"]):
            for a in range(fan_in + 1):
                scale = 1.0 if a == fan_in else gain
                theta.append((rng.range(-bound, bound) if scheme == "standard" else rng.normal()) * scale)
    return theta


# ---- data -------------------------------------------------------------------------------------

class Data:
    """The training and test sets as tensors: x (n, *INPUT_SHAPE); y the targets (mse: (n, c)
    floats; cross_entropy: n labels); Y the alignment targets (mse targets or one-hot labels)."""

    def __init__(self, x, y, x_test, y_test, dtype, device):
        def inputs(rows, what):
            t = torch.tensor(rows, dtype=dtype, device=device) if len(rows) else torch.zeros(0, dtype=dtype, device=device)
            if t.numel() != len(rows) * prod(INPUT_SHAPE):
                raise ValueError(f"{what}: expected rows of {prod(INPUT_SHAPE)} numbers (input {INPUT_SHAPE})")
            return t.reshape([len(rows)] + list(INPUT_SHAPE))

        def targets(values, n, what):
            if len(values) != n:
                raise ValueError(f"{what}: expected {n} entries, got {len(values)}")
            if LOSS == "cross_entropy":
                t = torch.tensor(values, dtype=torch.long, device=device).reshape(n)
                if n and (t.min() < 0 or t.max() >= C):
                    raise ValueError(f"{what}: labels must lie in 0..{C - 1}")
                return t
            return torch.tensor(values, dtype=dtype, device=device).reshape(n, C)

        self.x, self.x_test = inputs(x, "x"), inputs(x_test, "x_test")
        self.n, self.n_test = self.x.shape[0], self.x_test.shape[0]
        if self.n == 0:
            raise ValueError("x: at least one training example is needed")
        self.y, self.y_test = targets(y, self.n, "y"), targets(y_test, self.n_test, "y_test")
        self.Y = F.one_hot(self.y, C).to(dtype) if LOSS == "cross_entropy" else self.y


def data(dtype, device):
    """The experiment's data. Replace the arrays with your own loader to grow n (see --scale)."""
    return Data(X_TRAIN, Y_TRAIN, X_TEST, Y_TEST, dtype, device)


# ---- losses and the output-space metric (sections 3 and 4) ----------------------------------

def per_example_loss(h, y):
    """mse: 1/2 sum_k (h_k - y_k)^2; cross_entropy: -log softmax(h)[y]."""
    if LOSS == "mse":
        return 0.5 * ((h - y) ** 2).sum(1)
    return F.cross_entropy(h, y, reduction="none")


def loss_output_grad(h, y):
    """d ell_i / d h_i (n, c): mse h - y; cross_entropy softmax(h) - onehot(y)."""
    if LOSS == "mse":
        return h - y
    return torch.softmax(h, 1) - F.one_hot(y, C).to(h.dtype)


def metric_seeds(f):
    """Seed rows of the metric-weighted backward pass, (n, c, c): row r of example i is L_i^T[r]
    with M_i = L_i L_i^T the Hessian of ell_i in output space. mse: L = I. cross_entropy:
    L_i^T[r, k] = sqrt(p_r) (delta_rk - p_k), an exact square root of diag(p) - p p^T."""
    n = f.shape[0]
    eye = torch.eye(C, dtype=f.dtype, device=f.device)
    if LOSS == "mse":
        return eye.expand(n, C, C)
    p = torch.softmax(f, 1)
    return p.sqrt()[:, :, None] * (eye[None] - p[:, None, :])


# ---- per-example gradients (section 2) --------------------------------------------------------

def backward_rows(theta, x, seeds, signals=False, chunk=None):
    """Rows sum_k seeds[i, r, k] d f_k(x_i) / d theta for every example i and seed row r:
    (n * R, P), example-major (row i*R + r). Unit seeds give the Jacobian; metric_seeds the
    whitened Jacobian Gamma of the Fisher (F = Gamma^T Gamma / n).

    Plain autograd: every example gets its own copy of theta (shape (n, P)), so one backward
    pass per seed row gives that row for all examples at once (R passes, not n * R).
    With signals=True also returns, per parametrized layer, the same rows taken with respect to
    the layer's pre-activations: (n * R, out, T) (KFAC's G)."""
    n, R = x.shape[0], seeds.shape[1]
    rows = torch.empty(n, R, P, dtype=theta.dtype, device=theta.device)
    sig = [torch.empty(n, R, layer["out"], layer["positions"], dtype=theta.dtype, device=theta.device)
           for layer in PARAM_LAYERS] if signals else None
    step = chunk or n
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        copies = theta.detach().expand(i1 - i0, P).clone().requires_grad_(True)
        record = []
        f = model(copies, x[i0:i1], record)
        wrt = [copies] + ([s for _, s in record] if signals else [])
        for r in range(R):
            grads = torch.autograd.grad(f, wrt, grad_outputs=seeds[i0:i1, r], retain_graph=r < R - 1)
            rows[i0:i1, r] = grads[0]
            if signals:
                for li, g in enumerate(grads[1:]):
                    sig[li][i0:i1, r] = g.reshape(i1 - i0, g.shape[1], -1)
        del f, record, copies
    rows = rows.reshape(n * R, P)
    if signals:
        return rows, [s.reshape(n * R, s.shape[2], s.shape[3]) for s in sig]
    return rows


def jacobian(theta, x, chunk=None, signals=False):
    """J[i*c + k, p] = d f_k(x_i) / d theta_p, shape (n*c, P)."""
    eye = torch.eye(C, dtype=theta.dtype, device=theta.device)
    return backward_rows(theta, x, eye.expand(x.shape[0], C, C), signals, chunk)


def layer_columns(M, layer):
    return M[:, layer["offset"]:layer["offset"] + layer["size"]]


# ---- tangent kernels and alignments (sections 2, 7, 9, 11) -----------------------------------

def trace_outputs(K, n):
    """K_tr[i, j] = sum_k K[i*c + k, j*c + k] (n x n)."""
    return K.reshape(n, C, n, C).diagonal(dim1=1, dim2=3).sum(-1)


def center_examples(K, n):
    """(H (x) I_c) K (H (x) I_c), H = I - 11^T/n: the kernel of the Jacobian centered over
    examples, separately for every output (section 9)."""
    K4 = K.reshape(n, C, n, C)
    K4 = K4 - K4.mean(0, keepdim=True)
    K4 = K4 - K4.mean(2, keepdim=True)
    return K4.reshape(n * C, n * C)


def kernel_target_alignment(Ktr, Y, centered):
    """Section 7 on an n x n kernel: <K, Y Y^T> / (||K|| ||Y Y^T||); centered with H K H, H Y."""
    K, Y = Ktr.double(), Y.double()
    if centered:
        K = K - K.mean(0, keepdim=True)
        K = K - K.mean(1, keepdim=True)
        Y = Y - Y.mean(0, keepdim=True)
    YY = Y @ Y.T
    return float((K * YY).sum() / (K.norm() * YY.norm()))


def ntk_target_alignment(K, Y, centered):
    """Section 9 (Baratin et al.) on the full N x N kernel: v^T K v / (||K|| ||v||^2), v = vec(Y);
    centered: K~ from the Jacobian centered over examples per output, v~ from centered targets."""
    n = Y.shape[0]
    K, Y = K.double(), Y.double()
    if centered:
        K = center_examples(K, n)
        Y = Y - Y.mean(0, keepdim=True)
    v = Y.reshape(-1)
    return float(v @ (K @ v) / (K.norm() * (v @ v)))


def kernel_similarity(A, B):
    """<A, B>_F / (||A||_F ||B||_F) (section 11)."""
    A, B = A.double(), B.double()
    return float((A * B).sum() / (A.norm() * B.norm()))


def ntk(J, n, Y, per_layer=True):
    """The empirical NTK K = J J^T (N x N), its trace over outputs and, layer by layer (one
    layer's N x N kernel in memory at a time), the traced per-layer kernels and every alignment."""
    K = J @ J.T
    Ktr = trace_outputs(K, n)
    out = {"K": K, "K_trace": Ktr, "per_layer_trace": [], "alignment": None}
    if not per_layer:
        return out
    layers = {"uncentered": [], "centered": [], "ntk_centered": [], "ntk_uncentered": []}
    for layer in PARAM_LAYERS:
        Jl = layer_columns(J, layer)
        Kl = Jl @ Jl.T
        Kl_tr = trace_outputs(Kl, n)
        out["per_layer_trace"].append(Kl_tr)
        layers["uncentered"].append(kernel_target_alignment(Kl_tr, Y, False))
        layers["centered"].append(kernel_target_alignment(Kl_tr, Y, True))
        layers["ntk_centered"].append(ntk_target_alignment(Kl, Y, True))
        layers["ntk_uncentered"].append(ntk_target_alignment(Kl, Y, False))
        del Kl
    out["alignment"] = {
        "uncentered": kernel_target_alignment(Ktr, Y, False),
        "centered": kernel_target_alignment(Ktr, Y, True),
        "per_layer_uncentered": layers["uncentered"],
        "per_layer_centered": layers["centered"],
        "ntk_centered": ntk_target_alignment(K, Y, True),
        "ntk_uncentered": ntk_target_alignment(K, Y, False),
        "per_layer_ntk_centered": layers["ntk_centered"],
        "per_layer_ntk_uncentered": layers["ntk_uncentered"],
    }
    return out


def spectrum(K):
    """Section 10: eigenvalues descending (float64 eigvalsh), effective rank exp(-sum p ln p)
    with p = max(lambda, 0) / sum, and the share of the trace of the top 1, 5, 10."""
    ev = torch.linalg.eigvalsh(K.double()).flip(0)
    plus = ev.clamp(min=0)
    total = float(plus.sum())
    if total > 0:
        p = plus[plus > 0] / total
        rank = math.exp(float(-(p * p.log()).sum()))
        ratios = {str(k): float(plus[:k].sum()) / total for k in (1, 5, 10)}
    else:
        rank, ratios = 0.0, {"1": 0.0, "5": 0.0, "10": 0.0}
    return {"eigenvalues": ev, "effective_rank": rank, "trace_ratio": ratios}


# ---- Fisher / GGN, KFAC and EKFAC (sections 4, 5, 6) ------------------------------------------

def fisher(Gamma, n, dense):
    """F = Gamma^T Gamma / n from the whitened Jacobian Gamma (N x P). The trace and Frobenius
    norm come from the smaller Gram matrix (same nonzero spectrum), accumulated in float64."""
    G64 = Gamma.double()
    gram = G64 @ G64.T if G64.shape[0] <= G64.shape[1] else G64.T @ G64
    out = {"trace": float((G64 ** 2).sum()) / n, "frobenius": float(gram.norm()) / n}
    if dense:
        out["dense"] = Gamma.T @ Gamma / n
    return out


def patches(layer, a):
    """The layer's augmented inputs a~ = [w_mul * a ; b_mul], one row per (example, position):
    (n*T, fan_in + 1). Conv positions are the columns of torch's unfold, in (y, x) order."""
    n = a.shape[0]
    if layer["kind"] == "dense":
        A = a.reshape(n, -1)
    else:
        A = F.unfold(a, layer["kernel"], padding=layer["padding"], stride=layer["stride"])
        A = A.transpose(1, 2).reshape(n * layer["positions"], layer["fan_in"])
    ones = torch.full((A.shape[0], 1), layer["b_mul"], dtype=A.dtype, device=A.device)
    return torch.cat([layer["w_mul"] * A, ones], 1)


def kfac(layer, a, Sw, Gamma, n, with_blocks):
    """KFAC / EKFAC of one parametrized layer, in float64 (factors are small).

    a: the layer's input at theta0; Sw: whitened signals (N, out, T), rows sum_k L^T[r, k]
    d f_k / d s; Gamma: the whitened Jacobian (N, P). A = (1/n) sum_{i,t} a~ a~^T,
    G = (1/(nT)) sum_{i,t} S^T M S, s = diag(Q^T F_l Q) with Q = U_G (x) U_A."""
    out, m, T = layer["out"], layer["fan_in"] + 1, layer["positions"]
    size = layer["size"]
    Pa = patches(layer, a).double()
    A = Pa.T @ Pa / n
    S = Sw.double().permute(0, 2, 1).reshape(-1, out)
    G = S.T @ S / (n * T)
    eig_A, U_A = torch.linalg.eigh(A)
    eig_G, U_G = torch.linalg.eigh(G)
    Gl = layer_columns(Gamma, layer).double().reshape(-1, out, m)  # per-row layer gradients
    Ghat = (U_G.T @ Gl @ U_A).reshape(-1, size)  # the same rows in the Kronecker eigenbasis
    s = (Ghat ** 2).sum(0) / n
    kfac_s = torch.outer(eig_G, eig_A).reshape(-1)
    # ||F_l||, ||F_l - KFAC||, ||F_l - EKFAC|| in the eigenbasis, where both approximations are
    # diagonal: with B = Q^T F_l Q (diag B = s), ||F - EKFAC||^2 = ||offdiag B||^2 and
    # ||F - KFAC||^2 = ||offdiag B||^2 + ||s - eig_G (x) eig_A||^2, so ekfac <= kfac always.
    N = Ghat.shape[0]
    if size > 2048 and N < size:
        # Large layers: B = Ghat^T Ghat / n has the Frobenius norm of the N x N Gram
        # Ghat Ghat^T / n (O(N^2 P_l) instead of O(N P_l^2)). ||B||^2 - ||s||^2 is taken in
        # float64 from the same Ghat, so an error of exactly 0 (a last linear layer under mse)
        # comes out at ~1e-8 ||F|| (sqrt of float64 round-off), far below the 1e-5 tolerance.
        # Smaller layers sum the off-diagonal directly: exact to round-off.
        gram = Ghat @ Ghat.T / n
        off2 = max(0.0, float((gram ** 2).sum()) - float((s ** 2).sum()))
        del gram
    else:
        off2 = 0.0
        for j0 in range(0, size, 2048):
            block = Ghat.T @ Ghat[:, j0:j0 + 2048] / n  # columns j0.. of B, its diagonal zeroed
            block[j0:j0 + block.shape[1]].diagonal().zero_()
            off2 += float((block ** 2).sum())
            del block
    Gl2 = Gl.reshape(-1, size)
    entry = {
        "layer_index": layer["layer_index"], "type": layer["kind"], "param_offset": layer["offset"],
        "param_size": size, "out": out, "fan_in_plus_1": m, "spatial_positions": T,
        "A": A, "G": G, "eig_A": eig_A, "eig_G": eig_G, "ekfac_s": s.reshape(out, m),
        "exact_block_diag": (Gl2 ** 2).sum(0) / n,
        "kfac_block_diag": torch.outer(torch.diagonal(G), torch.diagonal(A)).reshape(-1),
        "ekfac_block_diag": ((U_G ** 2) @ s.reshape(out, m) @ (U_A ** 2).T).reshape(-1),
        "frob_exact": math.sqrt(off2 + float((s ** 2).sum())),
        "frob_err_kfac": math.sqrt(off2 + float(((s - kfac_s) ** 2).sum())),
        "frob_err_ekfac": math.sqrt(off2),
    }
    if with_blocks:
        Q = torch.kron(U_G, U_A)
        entry["exact_block"] = Gl2.T @ Gl2 / n
        entry["kfac_block"] = torch.kron(G, A)
        entry["ekfac_block"] = (Q * s) @ Q.T
    return entry


# ---- training: the network and its linearization (sections 8, 11, 12) ------------------------

class Rng:
    """The lab's seeded generator (src/util/rng.ts): xoshiro128** seeded through splitmix32,
    so the minibatch order (and init_theta) are the lab's, number for number."""
    M = 0xFFFFFFFF

    def __init__(self, seed):
        x = (int(seed) & self.M) ^ 0x9E3779B9
        state = []
        for _ in range(4):
            x = (x + 0x9E3779B9) & self.M
            z = x
            z = ((z ^ (z >> 16)) * 0x85EBCA6B) & self.M
            z = ((z ^ (z >> 13)) * 0xC2B2AE35) & self.M
            state.append((z ^ (z >> 16)) & self.M)
        self.s = state

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (32 - k))) & Rng.M

    def next_u32(self):
        s0, s1, s2, s3 = self.s
        result = (self.rotl((s1 * 5) & self.M, 7) * 9) & self.M
        t = (s1 << 9) & self.M
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = self.rotl(s3, 11)
        self.s = [s0, s1, s2, s3]
        return result

    def uniform(self):
        """Uniform in [0, 1) with 53 random bits."""
        hi, lo = self.next_u32() >> 5, self.next_u32() >> 6
        return (hi * 67108864 + lo) / 9007199254740992

    def range(self, a, b):
        return a + (b - a) * self.uniform()

    def normal(self):
        u = self.uniform()
        while u <= 0:
            u = self.uniform()
        v = self.uniform()
        return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * v)

    def int(self, n):
        return math.floor(self.uniform() * n)

    def shuffle(self, a):
        for i in range(len(a) - 1, 0, -1):
            j = self.int(i + 1)
            a[i], a[j] = a[j], a[i]


class BatchSchedule:
    """The lab's minibatch order (BatchSchedule, src/math/training.ts): a seeded permutation per epoch,
    batches taken in order, the last one of an epoch possibly short; full batch when
    batch_size >= n. Both models see the same batches."""

    def __init__(self, n, batch_size, seed):
        self.n, self.batch_size = n, batch_size
        self.rng = Rng((seed ^ 0x5EED) & Rng.M)
        self.order, self.pos = [], 0

    def next(self):
        if self.batch_size >= self.n:
            return list(range(self.n))
        if self.pos >= len(self.order):
            self.order = list(range(self.n))
            self.rng.shuffle(self.order)
            self.pos = 0
        batch = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return batch


class Linearization:
    """f(x; theta0) on fixed inputs, and the linear maps of J0 = d f(x; theta0) / d theta with
    plain autograd: vjp(r) = J0^T r is a backward pass; jvp(v) = J0 v is the derivative of the
    backward pass J0^T u with respect to u (double backward). J0 itself is never formed."""

    def __init__(self, theta0, x):
        self.theta = theta0.detach().clone().requires_grad_(True)
        self.f = model(self.theta, x)
        self.output = self.f.detach()
        self.u = torch.zeros_like(self.output, requires_grad=True)
        (self.jtu,) = torch.autograd.grad(self.f, self.theta, grad_outputs=self.u, create_graph=True)

    def vjp(self, r):
        return torch.autograd.grad(self.f, self.theta, grad_outputs=r, retain_graph=True)[0]

    def jvp(self, v):
        return torch.autograd.grad(self.jtu, self.u, grad_outputs=v, retain_graph=True)[0]


class Diverged(Exception):
    pass


def js_number(x):
    """x as JavaScript writes it (String(x)), so messages read as the runner's."""
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    s = repr(float(x))
    if "e" in s:
        mantissa, exponent = s.split("e")
        e = int(exponent)
        s = np.format_float_positional(x) if -7 < e < 21 else f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"
    return s


def js_precision(x, digits=3):
    """x.toPrecision(digits) as JavaScript writes it."""
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if x == 0:
        return "0." + "0" * (digits - 1)
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    e = int(exponent)
    if e < -6 or e >= digits:
        return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return f"{x:.{digits - 1 - e}f}"


def scaled(f, f0, alpha):
    """Section 8: h = f when alpha == 1 exactly, else alpha (f - f(theta0))."""
    return f if alpha == 1 else alpha * (f - f0)


def linear_outputs(lin, delta, alpha):
    """h_lin from f_lin = f(theta0) + J0 (theta - theta0), by the same rule."""
    jv = lin.jvp(delta)
    return lin.output + jv if alpha == 1 else alpha * jv


def relu_pre(theta, x):
    """Pre-activations of the relu layers, concatenated per example (section 11)."""
    record = []
    model(theta, x, record)
    pre = [s.reshape(x.shape[0], -1) for layer, (_, s) in zip(PARAM_LAYERS, record) if layer["activation"] == "relu"]
    return torch.cat(pre, 1) if pre else None


def probe(theta, d, K0, K0c, pre0, chunk):
    """The actual model's probes at theta: alignments of its current kernel (sections 7, 9), the
    kernel's similarity to K0 (raw and centered, section 11) and the relu sign similarity."""
    J = jacobian(theta, d.x, chunk)
    k = ntk(J, d.n, d.Y)
    del J
    al = k["alignment"]
    out = {
        "alignment_uncentered": al["uncentered"], "alignment_centered": al["centered"],
        "alignment_per_layer_uncentered": al["per_layer_uncentered"],
        "alignment_per_layer_centered": al["per_layer_centered"],
        "alignment_ntk_centered": al["ntk_centered"],
        "alignment_per_layer_ntk_centered": al["per_layer_ntk_centered"],
        "ntk_similarity_to_init": kernel_similarity(k["K"], K0),
        "ntk_similarity_to_init_centered": kernel_similarity(center_examples(k["K"], d.n), K0c),
    }
    if pre0 is not None:
        with torch.no_grad():
            pre = relu_pre(theta, d.x)
        out["relu_sign_similarity"] = float(((pre > 0) == (pre0 > 0)).double().mean())
    return out


def stable_lr(theta0, d, chunk):
    """2n / lambda_max of the metric-weighted kernel at theta0 (GD's stability bound), the metric
    taken at the model's outputs h0 there: f(theta0) when alpha is exactly 1, else 0 (section 8)."""
    with torch.no_grad():
        f0 = model(theta0, d.x)
    h0 = f0 if TRAIN["alpha"] == 1 else torch.zeros_like(f0)
    Gamma = backward_rows(theta0, d.x, metric_seeds(h0), chunk=chunk)
    top = float(torch.linalg.eigvalsh((Gamma @ Gamma.T).double())[-1])
    return 2 * d.n / top if top > 0 else math.inf


def closed_form(K0, lin, lin_test, d, h0, h0_test):
    """Section 12 (mse): the linearized model's GD trajectory through K0 = U diag(lambda) U^T,
    w = U^T vec(Y - h0), m_t = 1 - (1 - eta lambda)^t, phi_t = m_t / lambda (eta t at 0):
    h_t = h0 + U (m_t w), h_test_t = h0_test + K0t U (phi_t w), K0t c = J0_test (J0^T c)."""
    eta = TRAIN["lr"] / d.n
    K = K0.double()
    lam, U = torch.linalg.eigh(0.5 * (K + K.T))
    w = U.T @ (d.y.double() - h0.double()).reshape(-1)
    x = eta * lam
    small = x < 1
    out = {"outputs": []}
    if lin_test is not None:
        out["outputs_test"] = []
    for t in TRAIN["checkpoints"]:
        m = torch.where(small, -torch.expm1(t * torch.log1p(-torch.where(small, x, torch.zeros_like(x)))),
                        1 - (1 - x) ** t)
        phi = torch.where(lam == 0, torch.full_like(lam, eta * t), m / torch.where(lam == 0, torch.ones_like(lam), lam))
        out["outputs"].append(h0.double() + (U @ (m * w)).reshape(d.n, C))
        if lin_test is not None:
            coef = (U @ (phi * w)).reshape(d.n, C).to(h0.dtype)
            out["outputs_test"].append(h0_test + lin_test.jvp(lin.vjp(coef)))
    return out


def train(theta0, d, init, chunk):
    """Section 8: the network and its linearization at theta0 trained side by side from theta0
    on the same batches, on the objective L(h) / alpha^2, recorded at TRAIN["checkpoints"].

    Optimizers as the lab's trainer: the gradient g (plus weight_decay * theta), momentum
    v <- momentum * v + g (PyTorch's convention), theta <- theta - lr * v; plain GD when
    momentum = 0 and the batch is the whole training set. Both models store theta - theta0."""
    cfg = TRAIN
    alpha, lr, mu, wd = cfg["alpha"], cfg["lr"], cfg["momentum"], cfg["weight_decay"]
    n = d.n
    lin = Linearization(theta0, d.x)
    lin_test = Linearization(theta0, d.x_test) if d.n_test else None
    f0, f0_test = lin.output, (lin_test.output if lin_test else None)
    K0, al0 = init["K"], init["alignment"]
    K0c = center_examples(K0, n)
    pre0 = relu_pre(theta0, d.x).detach() if any(l["activation"] == "relu" for l in PARAM_LAYERS) else None
    initial = {
        "alignment_uncentered": al0["uncentered"], "alignment_centered": al0["centered"],
        "alignment_per_layer_uncentered": al0["per_layer_uncentered"],
        "alignment_per_layer_centered": al0["per_layer_centered"],
        "alignment_ntk_centered": al0["ntk_centered"],
        "alignment_per_layer_ntk_centered": al0["per_layer_ntk_centered"],
        "ntk_similarity_to_init": 1.0, "ntk_similarity_to_init_centered": 1.0,
    }
    if pre0 is not None:
        initial["relu_sign_similarity"] = 1.0

    kinds = ("actual", "linearized")
    delta = {k: torch.zeros_like(theta0) for k in kinds}
    velocity = {k: torch.zeros_like(theta0) for k in kinds}
    never = cfg["steps"] + 1
    first_bad = {k: torch.tensor(never, device=theta0.device) for k in kinds}
    series = {k: {} for k in kinds}

    def push(kind, key, value):
        series[kind].setdefault(key, []).append(value)

    def record(t):
        for kind in kinds:
            if kind == "actual":
                with torch.no_grad():
                    theta = theta0 + delta[kind]
                    h = scaled(model(theta, d.x), f0, alpha)
                    h_test = scaled(model(theta, d.x_test), f0_test, alpha) if lin_test else None
            else:
                h = linear_outputs(lin, delta[kind], alpha)
                h_test = linear_outputs(lin_test, delta[kind], alpha) if lin_test else None
            ell = per_example_loss(h, d.y)
            push(kind, "outputs", h)
            if h_test is not None:
                push(kind, "outputs_test", h_test)
            push(kind, "loss", float(ell.double().mean()))
            if h_test is not None:
                push(kind, "loss_test", float(per_example_loss(h_test, d.y_test).double().mean()))
            push(kind, "per_example_loss", ell)
            push(kind, "param_distance", float(delta[kind].double().norm()))
            probes = initial if kind == "linearized" or t == 0 else probe(theta0 + delta[kind], d, K0, K0c, pre0, chunk)
            for key, value in probes.items():
                push(kind, key, value)

    def check(t):
        for kind in kinds:
            bad = int(first_bad[kind])
            if bad < never:
                raise Diverged(
                    f"learning rate {js_number(lr)} diverged at step {bad}: the {kind} model's loss or parameters "
                    f"became non-finite; try a learning rate below {js_precision(stable_lr(theta0, d, chunk))} "
                    f"(the NTK's stability bound 2n/lambda_max)")

    schedule = BatchSchedule(n, cfg["batch_size"], cfg["seed"])
    full_batch = cfg["batch_size"] >= n
    checkpoints = set(cfg["checkpoints"])
    if 0 in checkpoints:
        record(0)
    for step in range(1, max(checkpoints) + 1):  # as the runner: no steps after the last checkpoint
        if full_batch:
            xb, yb, lin_b = d.x, d.y, lin
        else:
            idx = torch.tensor(schedule.next(), device=d.x.device)
            xb, yb = d.x[idx], d.y[idx]
            lin_b = Linearization(theta0, xb)  # theta0's outputs and J0 on this batch
        rows = xb.shape[0]
        for kind in kinds:
            if kind == "actual":
                theta = (theta0 + delta[kind]).requires_grad_(True)
                h = scaled(model(theta, xb), lin_b.output, alpha)
                objective = per_example_loss(h, yb).sum() / (rows * alpha ** 2)
                g = torch.autograd.grad(objective, theta)[0]
            else:
                h = linear_outputs(lin_b, delta[kind], alpha).detach()
                g = lin_b.vjp(loss_output_grad(h, yb) / (rows * alpha))
            with torch.no_grad():
                if wd > 0:
                    g = g + wd * (theta0 + delta[kind])
                if mu > 0:
                    velocity[kind] = mu * velocity[kind] + g
                    g = velocity[kind]
                delta[kind] = delta[kind] - lr * g
                ok = torch.isfinite(delta[kind]).all()
                first_bad[kind] = torch.where(ok | (first_bad[kind] < never), first_bad[kind],
                                              torch.tensor(step, device=theta0.device))
        if step in checkpoints:
            check(step)
            record(step)
    result = {"actual": series["actual"], "linearized": series["linearized"], "checkpoints": list(cfg["checkpoints"])}
    if LOSS == "mse":
        h0 = f0 if alpha == 1 else torch.zeros_like(f0)
        h0_test = (f0_test if alpha == 1 else torch.zeros_like(f0_test)) if lin_test else None
        result["closed_form"] = closed_form(K0, lin, lin_test, d, h0, h0_test)
    return result


# ---- the result -------------------------------------------------------------------------------

def analyze(theta0, d, keys, chunk, log):
    """Every requested key at theta0, in the runner's order (train last)."""
    want = set(keys)
    r = {}
    n = d.n
    if "theta" in want:
        r["theta"] = theta0
    theta = theta0.detach().requires_grad_(True)
    f = model(theta, d.x)
    ell = per_example_loss(f, d.y)
    if "outputs" in want:
        r["outputs"] = f.detach()
    if d.n_test and ("outputs_test" in want or "loss_test" in want):
        with torch.no_grad():
            ft = model(theta0, d.x_test)
        if "outputs_test" in want:
            r["outputs_test"] = ft
        if "loss_test" in want:
            r["loss_test"] = float(per_example_loss(ft, d.y_test).double().mean())
    if "loss" in want:
        r["loss"] = float(ell.detach().double().mean())
    if "per_example_loss" in want:
        r["per_example_loss"] = ell.detach()
    if "loss_grad" in want:
        r["loss_grad"] = torch.autograd.grad(ell.mean(), theta)[0]  # dL/dtheta, no alpha
    f = f.detach()

    kernel_keys = {"jacobian", "ntk", "ntk_trace", "ntk_trace_per_layer", "alignment", "ntk_spectrum", "ntk_trace_spectrum"}
    fisher_keys = {"fisher", "fisher_trace", "fisher_frobenius"}
    need_gamma = bool(want & (fisher_keys | {"kfac"}))
    J = signals = kernels = None
    if want & kernel_keys or "train" in want or (need_gamma and LOSS == "mse"):
        log("per-example Jacobian")
        with_signals = "kfac" in want and LOSS == "mse"
        J = jacobian(theta0, d.x, chunk, signals=with_signals)
        if with_signals:
            J, signals = J
    if "jacobian" in want:
        r["jacobian"] = J
    if want & (kernel_keys - {"jacobian"}) or "train" in want:
        log("tangent kernels")
        kernels = ntk(J, n, d.Y, per_layer=bool(want & {"ntk_trace_per_layer", "alignment"}) or "train" in want)
        if "ntk" in want:
            r["ntk"] = kernels["K"]
        if "ntk_trace" in want:
            r["ntk_trace"] = kernels["K_trace"]
        if "ntk_trace_per_layer" in want:
            r["ntk_trace_per_layer"] = kernels["per_layer_trace"]
        if "alignment" in want:
            r["alignment"] = kernels["alignment"]
        if "ntk_spectrum" in want:
            r["ntk_spectrum"] = spectrum(kernels["K"])
        if "ntk_trace_spectrum" in want:
            r["ntk_trace_spectrum"] = spectrum(kernels["K_trace"])
    if need_gamma:
        log("Fisher / KFAC")
        if LOSS == "mse":
            Gamma = J  # the metric is the identity
        else:
            out = backward_rows(theta0, d.x, metric_seeds(f), signals="kfac" in want, chunk=chunk)
            Gamma, signals = out if "kfac" in want else (out, None)
        if "kfac" in want:
            record = []
            with torch.no_grad():
                model(theta0, d.x, record)
            r["kfac"] = [kfac(layer, record[li][0], signals[li], Gamma, n, layer["size"] <= OPTIONS["block_max_params"])
                         for li, layer in enumerate(PARAM_LAYERS)]
        if want & fisher_keys:
            fi = fisher(Gamma, n, dense="fisher" in want)
            if "fisher" in want:
                r["fisher"] = fi["dense"]
            if "fisher_trace" in want:
                r["fisher_trace"] = fi["trace"]
            if "fisher_frobenius" in want:
                r["fisher_frobenius"] = fi["frobenius"]
        del Gamma
    if "jacobian" not in want:
        del J
    if "train" in want:
        log(f"training {TRAIN['steps']} steps")
        r["train"] = train(theta0, d, kernels, chunk)
    return {k: r[k] for k in RESULT_KEYS if k in r}


def plain(value):
    """Tensors and nested containers as JSON values (lists of floats; NaN or inf as null)."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if t.is_floating_point():
            t = t.double()
            if not bool(torch.isfinite(t).all()):
                return plain(t.tolist())
        return t.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(result, path):
    """Write the result JSON whole or not at all (a temporary file renamed into place)."""
    text = json.dumps(plain(result), separators=(",", ":"))
    if path == "-":
        sys.stdout.write(text + "\n")
        return
    tmp = f"{path}.partial-{os.getpid()}"
    try:
        with open(tmp, "w") as fh:
            fh.write(text + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=f"Tangent Lab experiment {SPEC_NAME!r} (exported from tangent-lab {LAB_VERSION}): "
                    "computes the lab runner's result keys with PyTorch and writes them as JSON.",
        epilog="--scale explains how to grow n and the width.")
    parser.add_argument("--out", default="result.json", help="result JSON path ('-' for stdout; default: result.json)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                        help="precision of the network's passes (default float64)")
    parser.add_argument("--compute", help=f"comma-separated result keys (default: {','.join(KEYS)})")
    parser.add_argument("--chunk", type=int, help="examples per per-example-gradient pass (default: all)")
    parser.add_argument("--init", choices=["standard", "ntk"], help="draw theta0 with the lab's generator instead of THETA0")
    parser.add_argument("--init-seed", type=int, default=0, help="seed of --init (0 .. 2^32-1)")
    parser.add_argument("--init-gain", type=float, default=1.0, help="weight scale of --init (default 1)")
    parser.add_argument("--scale", action="store_true", help="print how to grow n and the width, and exit")
    args = parser.parse_args(argv)
    if args.scale:
        return args
    try:
        device = torch.device(args.device)
    except (RuntimeError, ValueError):
        parser.error(f"--device: expected cpu, cuda or cuda:N, found {args.device!r}")
    if device.type not in ("cpu", "cuda"):
        parser.error(f"--device: expected cpu, cuda or cuda:N, found {args.device!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this PyTorch sees no CUDA device (torch.cuda.is_available() is False)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        parser.error(f"--device: {args.device} does not exist ({torch.cuda.device_count()} CUDA devices)")
    args.device = device
    if args.chunk is not None and args.chunk < 1:
        parser.error(f"--chunk: expected a positive number of examples, found {args.chunk}")
    if not 0 <= args.init_seed <= 0xFFFFFFFF:
        parser.error(f"--init-seed: expected an integer in 0 .. 4294967295, found {args.init_seed}")
    if not (math.isfinite(args.init_gain) and args.init_gain >= 0):
        parser.error(f"--init-gain: expected a non-negative number, found {args.init_gain}")
    if args.compute is None:
        args.keys = list(KEYS)
    else:
        args.keys = [k.strip() for k in args.compute.split(",") if k.strip()]
        for k in args.keys:
            if k not in RESULT_KEYS:
                parser.error(f"--compute: unknown key {k!r} (one of {', '.join(RESULT_KEYS)})")
        if "train" in args.keys and TRAIN is None:
            parser.error("--compute: \"train\" needs a TRAIN section (the spec has none)")
        if "fisher" in args.keys and P > OPTIONS["fisher_max_params"]:
            parser.error(f"--compute: fisher: P = {P} parameters exceeds OPTIONS['fisher_max_params'] = "
                         f"{OPTIONS['fisher_max_params']}; raise it or drop \"fisher\"")
    out_dir = os.path.dirname(os.path.abspath(args.out)) if args.out != "-" else "."
    if not os.path.isdir(out_dir):
        parser.error(f"--out: the directory {out_dir} does not exist")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.scale:
        sys.stdout.write(SCALE_HELP.replace("SCRIPT", os.path.basename(sys.argv[0]) or "script.py"))
        return 0
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    t0 = time.time()

    def log(message):
        sys.stderr.write(f"[{time.time() - t0:7.2f} s] {message}\n")

    values = init_theta(args.init, args.init_seed, args.init_gain) if args.init else THETA0
    if len(values) != P:
        sys.stderr.write(f"error: THETA0 has {len(values)} values but LAYERS need P = {P} (after changing LAYERS, pass --init)\n")
        return 1
    theta0 = torch.tensor(values, dtype=dtype, device=args.device)
    try:
        d = data(dtype, args.device)
    except ValueError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    log(f"{SPEC_NAME!r}: P = {P}, n = {d.n}, n_test = {d.n_test}, c = {C}, {LOSS}, "
        f"{args.device} {args.dtype}; keys: {', '.join(args.keys)}")
    try:
        result = analyze(theta0, d, args.keys, args.chunk, log)
    except Diverged as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    write_json(result, args.out)
    log(f"done: {', '.join(result)}" + ("" if args.out == "-" else f" -> {args.out}"))
    return 0


# @@ARRAYS@@

if __name__ == "__main__":
    sys.exit(main())
