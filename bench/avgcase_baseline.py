"""Straightforward per-point average-case robustness estimators: the speed baseline for bench_avgcase.py.

One point at a time: a forward pass, C-1 backward passes for the margin gradients, and one
`scipy.stats.multivariate_normal.cdf` call per point (with the tolerances of Han et al.'s public code:
maxpts=10000, abseps=releps=1e-4). Monte Carlo draws the noisy copies of one point in chunks.
Written for this benchmark; it computes the same quantities as `robustness_study.avgcase` in the obvious way.
"""
from __future__ import annotations
import numpy as np, torch
from scipy.stats import multivariate_normal

SCIPY_KW = dict(maxpts=10000, abseps=1e-4, releps=1e-4)

def _point_g_grad(model, xi, t, noisy):
    "Margins g_j = f_t - f_j and their input gradients for one point (averaged over `noisy` copies)."
    xin = noisy.clone().requires_grad_(True)
    f = model(xin)
    others = [c for c in range(f.shape[1]) if c != t]
    g = f[:, [t]] - f[:, others]
    grads = [torch.autograd.grad(g[:, j].sum(), xin, retain_graph=j < len(others) - 1)[0].mean(0).flatten()
             for j in range(len(others))]
    return g.detach().mean(0), torch.stack(grads)

def _cdf_or_mvs(g, G, sigma, mvs, ridge=1e-5):
    nrm = G.norm(dim=1)
    z = (g / (sigma * nrm)).double().numpy()
    if mvs: return float(1 / (1 + np.exp(-z).sum()))
    U = (G / nrm[:, None]).double()
    cov = (U @ U.T).numpy() + ridge * np.eye(len(z))
    return float(multivariate_normal.cdf(z, mean=np.zeros(len(z)), cov=cov, **SCIPY_KW))

def baseline_taylor(model, x, sigma, mvs=False):
    model.eval(); out = []
    for xi in x:
        with torch.no_grad(): t = int(model(xi[None]).argmax(1))
        g, G = _point_g_grad(model, xi, t, xi[None])
        out.append(_cdf_or_mvs(g, G, sigma, mvs))
    return torch.tensor(out)

def baseline_mmse(model, x, sigma, n_samples=10, mvs=False, seed=0):
    model.eval(); out = []; gen = torch.Generator().manual_seed(seed)
    for xi in x:
        with torch.no_grad(): t = int(model(xi[None]).argmax(1))
        noisy = xi[None] + sigma * torch.randn(n_samples, *xi.shape, generator=gen)
        g, G = _point_g_grad(model, xi, t, noisy)
        out.append(_cdf_or_mvs(g, G, sigma, mvs))
    return torch.tensor(out)

def baseline_mc(model, x, sigma, n_samples=10000, chunk=500, seed=0):
    model.eval(); out = []; gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for xi in x:
            t = int(model(xi[None]).argmax(1)); hits = 0
            for s in range(0, n_samples, chunk):
                k = min(chunk, n_samples - s)
                hits += int((model(xi[None] + sigma * torch.randn(k, *xi.shape, generator=gen)).argmax(1) == t).sum())
            out.append(hits / n_samples)
    return torch.tensor(out)
