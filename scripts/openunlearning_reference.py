"""Reference for tests/llm_cli.rs: OpenUnlearning's (locuslab/open-unlearning) formulas,
transcribed line by line onto the LLM-bundle arrays, writing fixtures/llm/goldens.json.

Run from the repository root after fixtures/llm/make_fixture.py:
    python3 scripts/openunlearning_reference.py
Needs numpy, scipy and scikit-learn (roc_auc_score, as OpenUnlearning's mia_auc).

What is transcribed (file and function of OpenUnlearning, docs/llm.md §2-§4):
* evals/metrics/utils.py evaluate_probability: avg_loss = sum of token NLL over non-ignored
  labels / their count.
* evals/metrics/utils.py tokenwise_logprobs / tokenwise_vocab_logprobs: actual_indices =
  nonzero(labels != IGNORE)[:-1] (the last target token is dropped), then the contiguous
  slice from the first to the last of those; an empty list gives an empty tensor.
* mia/loss.py (score = avg_loss), mia/zlib.py (avg_loss / len(zlib.compress(text))), with
  the compressed length read from text_zlib.npz;
* mia/min_k.py: 0 if empty; num_k = max(1, int(len(lp) * k)); -np.mean(np.sort(lp)[:num_k]);
* mia/min_k_plus_plus.py: 0 if empty; sigma = clamp(sigma, min=1e-6);
  scores = (lp - mu) / sqrt(sigma); num_k as above; -np.mean(sorted(scores)[:num_k]); mu and
  sigma are the bundle's <split>_mean and <split>_var (OpenUnlearning computes them from the
  full vocabulary distribution: mu = sum p log p, sigma = sum p (log p)^2 - mu^2);
* mia/utils.py mia_auc: labels forget 0, holdout 1, sklearn roc_auc_score on the raw scores;
* privacy.py privleak: score = 1 - auc, ref = 1 - ref_auc, (score - ref) / (ref + 1e-10) * 100;
* memorization.py truth_ratio: aggregate_to_1D (mean over answers), exp(-loss),
  wrong_prob / (correct_prob + 1e-10); closer_to_1_better: mean(min(tr, 1/(tr + 1e-10)));
* privacy.py ks_test: scipy.stats.ks_2samp(forget_tr_unlearned, forget_tr_retrained).pvalue.

OpenUnlearning evaluates in the model's dtype / float32; this script (and unlearn-audit)
evaluates the same formulas in float64.
"""

import json
import os

import numpy as np
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "llm")
K = 0.2
ATTACKS = ["loss", "zlib", "min_k", "min_k_plus_plus"]


def load(name, split):
    d = os.path.join(FIX, name)
    lp = np.load(os.path.join(d, "token_logprobs.npz"))[split]
    mask = np.load(os.path.join(d, "token_mask.npz"))[split].astype(bool)
    st = np.load(os.path.join(d, "token_vocab_stats.npz"))
    zl = np.load(os.path.join(d, "text_zlib.npz"))[split]
    return lp, mask, st[f"{split}_mean"], st[f"{split}_var"], zl


def avg_loss(lp_row, mask_row):
    losses = -lp_row[mask_row]
    return losses.sum() / mask_row.sum()


def span(mask_row):
    actual_indices = np.nonzero(mask_row)[0][:-1]
    if actual_indices.size == 0:
        return None
    start_idx, end_idx = actual_indices[0], actual_indices[-1]
    return slice(start_idx, end_idx + 1)


def min_k(lp_row, mask_row, k):
    s = span(mask_row)
    if s is None:
        return 0
    lp = lp_row[s]
    if lp.size == 0:
        return 0
    num_k = max(1, int(len(lp) * k))
    sorted_vals = np.sort(lp)
    return -np.mean(sorted_vals[:num_k])


def min_k_plus_plus(lp_row, mask_row, mu_row, sigma_row, k):
    s = span(mask_row)
    if s is None:
        return 0
    target_prob = lp_row[s]
    if len(target_prob) == 0:
        return 0
    mu = mu_row[s]
    sigma = np.clip(sigma_row[s], 1e-6, None)
    scores = (target_prob - mu) / np.sqrt(sigma)
    num_k = max(1, int(len(scores) * k))
    return -np.mean(sorted(scores)[:num_k])


def scores(name, split, k):
    lp, mask, mu, var, zl = load(name, split)
    out = {a: [] for a in ATTACKS}
    for i in range(lp.shape[0]):
        loss = avg_loss(lp[i], mask[i])
        out["loss"].append(float(loss))
        out["zlib"].append(float(loss / zl[i]))
        out["min_k"].append(float(min_k(lp[i], mask[i], k)))
        out["min_k_plus_plus"].append(float(min_k_plus_plus(lp[i], mask[i], mu[i], var[i], k)))
    return out


def mia_auc(forget_scores, holdout_scores):
    s = np.array(forget_scores + holdout_scores)
    labels = np.array([0] * len(forget_scores) + [1] * len(holdout_scores))
    return float(roc_auc_score(labels, s))


def privleak(auc, ref_auc):
    score = 1 - auc
    ref = 1 - ref_auc
    return (score - ref) / (ref + 1e-10) * 100


def truth_ratio(name, split):
    a = np.load(os.path.join(FIX, name, "answer_losses.npz"))
    correct = a[f"{split}_correct"]
    wrong = a[f"{split}_wrong"]
    aggregate_to_1D = lambda x: np.mean(x, axis=tuple(range(1, x.ndim)))
    correct_avg_losses = aggregate_to_1D(np.array(correct))
    wrong_avg_losses = aggregate_to_1D(np.array(wrong))
    correct_prob = np.exp(-correct_avg_losses)
    wrong_prob = np.exp(-wrong_avg_losses)
    return wrong_prob / (correct_prob + 1e-10)


def closer_to_1_better(arr):
    return float(np.mean(np.minimum(arr, 1 / (arr + 1e-10))))


goldens = {"k": K, "models": {}, "privleak": {}, "forget_quality": {}}
for model in ["unlearned", "retrained", "original"]:
    f = scores(model, "forget", K)
    h = scores(model, "holdout", K)
    goldens["models"][model] = {
        a: {"forget": f[a], "holdout": h[a], "auc": mia_auc(f[a], h[a])} for a in ATTACKS
    }
for a in ATTACKS:
    goldens["privleak"][a] = privleak(
        goldens["models"]["unlearned"][a]["auc"], goldens["models"]["retrained"][a]["auc"]
    )
for split in ["forget", "other"]:
    tu = truth_ratio("unlearned", split)
    tr = truth_ratio("retrained", split)
    ks = ks_2samp(tu, tr)
    goldens["forget_quality"][split] = {
        "truth_ratio_unlearned": tu.tolist(),
        "truth_ratio_retrained": tr.tolist(),
        "forget_truth_ratio_unlearned": closer_to_1_better(tu),
        "forget_truth_ratio_retrained": closer_to_1_better(tr),
        "ks_statistic": float(ks.statistic),
        "forget_quality": float(ks.pvalue),
    }
# Extra KS cases (ties, unequal sizes, tiny p-values) for the exact recursion.
rng = np.random.default_rng(7)
cases = []
for n1, n2, shift in [(5, 7, 0.0), (40, 40, 1.5), (33, 61, 0.3), (200, 150, 0.5), (1000, 999, 0.2), (12, 12, 0.0)]:
    x = np.round(rng.normal(0, 1, n1), 1)
    y = np.round(rng.normal(shift, 1, n2), 1)
    ks = ks_2samp(x, y)
    cases.append({"x": x.tolist(), "y": y.tolist(), "statistic": float(ks.statistic), "p_value": float(ks.pvalue)})
goldens["ks_cases"] = cases
with open(os.path.join(FIX, "goldens.json"), "w") as fh:
    json.dump(goldens, fh, indent=1)
print("wrote", os.path.join(FIX, "goldens.json"))
