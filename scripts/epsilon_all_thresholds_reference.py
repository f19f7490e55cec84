"""Independent numpy/scipy implementation of `unlearn-audit epsilon --selection bonferroni-all`
(Bonferroni over every order statistic of each side, both rule directions, 2 (n_u + n_r) tests,
rank bound on the threshold's own side, one-sided Clopper-Pearson at alpha / tests / 2 per rate;
docs/epsilon.md section 3.5), vectorised the way a numpy user would write it: counts by
np.searchsorted, Clopper-Pearson by scipy.stats.beta.ppf on the distinct counts only.

Speed comparison for docs/performance.md (`## epsilon`):
    python3 scripts/epsilon_all_thresholds_reference.py [N] [--save DIR]
draws N (default 10**6) runs per side, unlearned N(0.27, 1) vs retrained N(0, 1) (seed 1), and
prints the wall time of the audit (sort included) and its bound. With --save it writes
DIR/unlearned.npy and DIR/retrained.npy so the Rust CLI can be timed on the same data.
"""
import os
import sys
import time

import numpy as np
from scipy.stats import beta

DELTA = 1e-5
CONFIDENCE = 0.95


def cp_upper(k, n, a):
    """One-sided Clopper-Pearson upper bound for an array of counts k out of n."""
    k = np.asarray(k)
    unique, inverse = np.unique(k, return_inverse=True)
    values = np.where(unique >= n, 1.0, beta.ppf(1 - a, unique + 1, np.maximum(n - unique, 1)))
    return values[inverse]


def audit(u, r):
    u, r = np.sort(u), np.sort(r)
    nu, nr = len(u), len(r)
    tests = 2 * (nu + nr)
    a = (1 - CONFIDENCE) / tests / 2
    iu, ir = np.arange(nu), np.arange(nr)
    # Thresholds at retrained order statistics: "> r[i]" (FP bound = rank from top - 1),
    # "< r[i]" (FP bound = i); FN observed.
    fp = np.concatenate([nr - 1 - ir, ir])
    fn = np.concatenate([np.searchsorted(u, r, "right"), nu - np.searchsorted(u, r, "left")])
    # Thresholds at unlearned order statistics: "<= u[i]", ">= u[i]"; FN by rank.
    fp = np.concatenate([fp, np.searchsorted(r, u, "right"), nr - np.searchsorted(r, u, "left")])
    fn = np.concatenate([fn, nu - 1 - iu, iu])
    fpr_ub, fnr_ub = cp_upper(fp, nr, a), cp_upper(fn, nu, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        b1 = np.where(1 - DELTA - fpr_ub > 0, np.log(1 - DELTA - fpr_ub) - np.log(fnr_ub), -np.inf)
        b2 = np.where(1 - DELTA - fnr_ub > 0, np.log(1 - DELTA - fnr_ub) - np.log(fpr_ub), -np.inf)
    eps = np.maximum(b1, b2)
    best = int(np.argmax(eps))
    return tests, a, max(float(eps[best]), 0.0), float(fpr_ub[best]), float(fnr_ub[best])


if __name__ == "__main__":
    args = [x for x in sys.argv[1:] if not x.startswith("--")]
    n = int(float(args[0])) if args else 10**6
    rng = np.random.default_rng(1)
    u, r = rng.normal(0.27, 1, n), rng.normal(0, 1, n)
    if "--save" in sys.argv:
        out = sys.argv[sys.argv.index("--save") + 1]
        os.makedirs(out, exist_ok=True)
        np.save(os.path.join(out, "unlearned.npy"), u.reshape(-1, 1))
        np.save(os.path.join(out, "retrained.npy"), r.reshape(-1, 1))
    start = time.perf_counter()
    tests, a, eps, fpr_ub, fnr_ub = audit(u, r)
    elapsed = time.perf_counter() - start
    print(f"numpy/scipy all-threshold audit, {n} per side: {elapsed:.3f} s, {tests} tests, "
          f"alpha per rate {a:.6g}, bound {eps:.6f} (fpr_ub {fpr_ub:.6g}, fnr_ub {fnr_ub:.6g})")
