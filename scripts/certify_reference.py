"""What a user would otherwise run for the certificates in `benches/certify.rs`.

* sigma from (Delta, eps, delta): Balle & Wang's reference algorithm
  (BorjaBalle/analytic-gaussian-mechanism, `calibrateAnalyticGaussianMechanism`, tol 1e-12),
  re-typed here from the algorithm described in shared/references/metrics-and-mechanisms.md §2.2.
* eps from (Delta, sigma, delta): scipy.optimize.brentq on the exact privacy profile.
* delta from (Delta, sigma, eps): the closed form with scipy.stats.norm.
* Renyi -> (eps, delta), improved conversion: scipy.optimize.minimize_scalar over alpha.

Prints the wall time of each block of 100 points (best of 5), and the values' checksums so
they can be compared with the Rust benchmark's sums.
Usage: python3 scripts/certify_reference.py
"""
import math
import time

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import norm


def calibrate_analytic_gaussian(epsilon, delta, gs, tol=1.0e-12):
    def phi(t):
        return 0.5 * (1.0 + math.erf(float(t) / math.sqrt(2.0)))

    def case_a(epsilon, s):
        return phi(math.sqrt(epsilon * s)) - math.exp(epsilon) * phi(-math.sqrt(epsilon * (s + 2.0)))

    def case_b(epsilon, s):
        return phi(-math.sqrt(epsilon * s)) - math.exp(epsilon) * phi(-math.sqrt(epsilon * (s + 2.0)))

    def doubling_trick(predicate_stop, s_inf, s_sup):
        while not predicate_stop(s_sup):
            s_inf = s_sup
            s_sup = 2.0 * s_inf
        return s_inf, s_sup

    def binary_search(predicate_stop, predicate_left, s_inf, s_sup):
        s_mid = s_inf + (s_sup - s_inf) / 2.0
        while not predicate_stop(s_mid):
            if predicate_left(s_mid):
                s_sup = s_mid
            else:
                s_inf = s_mid
            s_mid = s_inf + (s_sup - s_inf) / 2.0
        return s_mid

    delta_thr = case_a(epsilon, 0.0)
    if delta == delta_thr:
        alpha = 1.0
    else:
        if delta > delta_thr:
            predicate_stop_dt = lambda s: case_a(epsilon, s) >= delta
            function_s_to_delta = lambda s: case_a(epsilon, s)
            predicate_left_bs = lambda s: function_s_to_delta(s) > delta
            function_s_to_alpha = lambda s: math.sqrt(1.0 + s / 2.0) - math.sqrt(s / 2.0)
        else:
            predicate_stop_dt = lambda s: case_b(epsilon, s) <= delta
            function_s_to_delta = lambda s: case_b(epsilon, s)
            predicate_left_bs = lambda s: function_s_to_delta(s) < delta
            function_s_to_alpha = lambda s: math.sqrt(1.0 + s / 2.0) + math.sqrt(s / 2.0)
        predicate_stop_bs = lambda s: abs(function_s_to_delta(s) - delta) <= tol
        s_inf, s_sup = doubling_trick(predicate_stop_dt, 0.0, 1.0)
        s_final = binary_search(predicate_stop_bs, predicate_left_bs, s_inf, s_sup)
        alpha = function_s_to_alpha(s_final)
    return alpha * gs / math.sqrt(2.0 * epsilon)


def delta_of(sigma, epsilon, gs=1.0):
    r = gs / sigma
    return norm.cdf(r / 2 - epsilon / r) - math.exp(epsilon) * norm.cdf(-r / 2 - epsilon / r)


def epsilon_of(sigma, delta, gs=1.0):
    if delta_of(sigma, 0.0, gs) <= delta:
        return 0.0
    hi = 1.0
    while delta_of(sigma, hi, gs) > delta:
        hi *= 2.0
    return brentq(lambda e: delta_of(sigma, e, gs) - delta, 0.0, hi, xtol=1e-14, rtol=1e-15)


def improved_conversion(slope, delta):
    def objective(alpha):
        return alpha * slope + math.log((alpha - 1) / alpha) - (math.log(delta) + math.log(alpha)) / (alpha - 1)

    return minimize_scalar(objective, bounds=(1.001, 1000.0), method="bounded", options={"xatol": 1e-12}).fun


def grid():
    deltas = [1e-5, 1e-6, 1e-8, 1e-10]
    return [(0.1 * 100.0 ** (i / 99.0), deltas[i % 4]) for i in range(100)]


def best_of(fn, repeats=5):
    best = math.inf
    value = None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


if __name__ == "__main__":
    blocks = {
        "sigma_analytic_100_points": lambda: sum(calibrate_analytic_gaussian(e, d, 1.0) for e, d in grid()),
        "epsilon_analytic_100_points": lambda: sum(epsilon_of(1.0 / e, d) for e, d in grid()),
        "delta_analytic_100_points": lambda: sum(delta_of(2.0, e) for e, _ in grid()),
        "renyi_conversion_improved_100_slopes": lambda: sum(improved_conversion(0.01 * i, 1e-5) for i in range(1, 101)),
    }
    for name, fn in blocks.items():
        seconds, value = best_of(fn)
        print(f"{name}: {seconds * 1e3:.3f} ms (sum {value:.12g})")
    print(f"numpy {np.__version__}")
