"""Float64 NumPy references for `ssljax.losses`, written from the papers' formulas.

These are deliberately naive (explicit loops, the papers' indexing and NumPy's own
statistics functions) and share no code with the JAX implementation. All take and return
float64. The only convention copied from the library is the normalization epsilon:
`x / sqrt(max(|x|^2, eps))`, which matters only for (near-)zero vectors.
"""

from __future__ import annotations

import math

import numpy as np

NORM_EPS = 1e-12


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / math.sqrt(max(float(v @ v), NORM_EPS))


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    return float(_unit(u) @ _unit(v))


def _log_sum_exp(values: list[float]) -> float:
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def nt_xent(z_a, z_b, temperature=0.1):
    """SimCLR Algorithm 1: views z_{2k-1} = z_a[k], z_{2k} = z_b[k] (here 0-based 2k, 2k+1)."""
    z_a, z_b = np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)
    n = z_a.shape[0]
    views = []
    for k in range(n):
        views.append(z_a[k])
        views.append(z_b[k])
    m = 2 * n
    s = np.empty((m, m))
    for i in range(m):
        for j in range(m):
            s[i, j] = _cos(views[i], views[j])

    def ell(i, j):
        denom = [s[i, k] / temperature for k in range(m) if k != i]
        return -(s[i, j] / temperature - _log_sum_exp(denom))

    total = 0.0
    for k in range(n):
        total += ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k)
    return total / (2 * n)


def info_nce(q, k, queue, temperature=0.2):
    """MoCo Algorithm 1: logits [q.k, q.queue_j] / T, label 0, mean cross-entropy."""
    q, k, queue = (np.asarray(x, np.float64) for x in (q, k, queue))
    total = 0.0
    for i in range(q.shape[0]):
        logits = [_cos(q[i], k[i]) / temperature]
        logits += [_cos(q[i], queue[j]) / temperature for j in range(queue.shape[0])]
        total += _log_sum_exp(logits) - logits[0]
    return total / q.shape[0]


def moco_v3(q, k, temperature=1.0):
    """MoCo v3 Algorithm 1: CE(q k^T / T, arange(N)) * 2T over the global batch."""
    q, k = np.asarray(q, np.float64), np.asarray(k, np.float64)
    n = q.shape[0]
    total = 0.0
    for i in range(n):
        logits = [_cos(q[i], k[j]) / temperature for j in range(n)]
        total += _log_sum_exp(logits) - logits[i]
    return total / n * 2 * temperature


def byol(p, z):
    """BYOL Eq. 2: ||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z), batch mean."""
    p, z = np.asarray(p, np.float64), np.asarray(z, np.float64)
    vals = [float(np.sum((_unit(p[i]) - _unit(z[i])) ** 2)) for i in range(p.shape[0])]
    return float(np.mean(vals))


def simsiam(p, z):
    """SimSiam Eq. 1: D(p, z) = -p/|p| . z/|z|, batch mean."""
    p, z = np.asarray(p, np.float64), np.asarray(z, np.float64)
    return float(np.mean([-_cos(p[i], z[i]) for i in range(p.shape[0])]))


def barlow_twins(z_a, z_b, lambd=5e-3, bn_eps=1e-5):
    """Barlow Twins Eq. 1 with the authors' BatchNorm1d(affine=False) standardization."""
    z_a, z_b = np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)
    n, d = z_a.shape

    def bn(z):
        out = np.empty_like(z)
        for j in range(d):
            col = z[:, j]
            out[:, j] = (col - col.mean()) / math.sqrt(col.var() + bn_eps)  # biased var
        return out

    a, b = bn(z_a), bn(z_b)
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[bi, i] * b[bi, j] for bi in range(n)) / n
            loss += (1.0 - c_ij) ** 2 if i == j else lambd * c_ij**2
    return loss


def vicreg(z_a, z_b, sim_coeff=25.0, std_coeff=25.0, cov_coeff=1.0, eps=1e-4):
    """VICReg Eqs. 1-6 as in the authors' reference code (unbiased statistics)."""
    z_a, z_b = np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)
    d = z_a.shape[1]
    inv = float(np.mean((z_a - z_b) ** 2))

    def v(z):
        std = np.sqrt(np.var(z, axis=0, ddof=1) + eps)
        return float(np.mean(np.maximum(0.0, 1.0 - std)))

    def c(z):
        cov = np.atleast_2d(np.cov(z, rowvar=False))  # unbiased
        off = cov[~np.eye(d, dtype=bool)]
        return float(np.sum(off**2)) / d

    var = v(z_a) / 2 + v(z_b) / 2
    cov = c(z_a) + c(z_b)
    return sim_coeff * inv + std_coeff * var + cov_coeff * cov


def _softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def dino(student_logits, teacher_logits, center, student_temp=0.1, teacher_temp=0.04):
    """DINO's DINOLoss.forward: CE over (teacher crop iq, student crop v) pairs, v != iq."""
    center = np.asarray(center, np.float64).reshape(-1)
    students = [np.asarray(s, np.float64) for s in student_logits]
    teachers = [np.asarray(t, np.float64) for t in teacher_logits]
    total, terms = 0.0, 0
    for iq, t in enumerate(teachers):
        for v, s in enumerate(students):
            if v == iq:
                continue
            per_row = []
            for b in range(t.shape[0]):
                q = _softmax((t[b] - center) / teacher_temp)
                x = s[b] / student_temp
                log_p = x - _log_sum_exp(list(x))
                per_row.append(-float(np.sum(q * log_p)))
            total += float(np.mean(per_row))
            terms += 1
    return total / terms


def dino_center_update(center, teacher_logits, momentum=0.9):
    """DINO's update_center: EMA of the mean teacher logit over all crops and rows."""
    center = np.asarray(center, np.float64)
    rows = np.concatenate([np.asarray(t, np.float64) for t in teacher_logits], axis=0)
    batch_center = rows.sum(axis=0) / rows.shape[0]
    return center * momentum + batch_center.reshape(center.shape) * (1 - momentum)


def numerical_grad(f, x, h=1e-6):
    """Central finite differences of a scalar function of one float64 array."""
    x = np.array(x, np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        orig = x[idx]
        x[idx] = orig + h
        up = f(x)
        x[idx] = orig - h
        down = f(x)
        x[idx] = orig
        g[idx] = (up - down) / (2 * h)
    return g


def dcl(z_a, z_b, temperature=0.1, weighted=False, sigma=0.5):
    """Yeh et al. 2022, Eq. 6/8: -w s(i,i+)/T + log sum over the 2N-2 other views."""
    z_a, z_b = np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)
    n = z_a.shape[0]
    views = [_unit(v) for v in z_a] + [_unit(v) for v in z_b]
    pair = np.array([float(views[i] @ views[n + i]) / sigma for i in range(n)])
    soft = np.exp(pair - pair.max()) / np.exp(pair - pair.max()).sum()
    w = 2.0 - n * soft if weighted else np.ones(n)
    total = 0.0
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        negs = [float(views[i] @ views[k]) / temperature for k in range(2 * n) if k not in (i, pos)]
        total += -w[i % n] * float(views[i] @ views[pos]) / temperature + _log_sum_exp(negs)
    return total / (2 * n)


def supcon(z, labels, temperature=0.1, base_temperature=None):
    """Khosla et al. 2020, Eq. 2 (L^sup_out), as the authors' SupConLoss (contrast_mode 'all')."""
    z = np.asarray(z, np.float64)
    n, v, _ = z.shape
    views = [_unit(z[i, j]) for j in range(v) for i in range(n)]  # view-major
    labs = [int(labels[i]) for _ in range(v) for i in range(n)]
    base = base_temperature or temperature
    losses, m = [], v * n
    for a in range(m):
        others = [k for k in range(m) if k != a]
        lse = _log_sum_exp([float(views[a] @ views[k]) / temperature for k in others])
        pos = [k for k in others if labs[k] == labs[a]]
        if pos:
            mean = np.mean([float(views[a] @ views[p]) / temperature - lse for p in pos])
            losses.append(-(temperature / base) * mean)
    return float(np.mean(losses))


def sinkhorn(scores, epsilon=0.05, iterations=3):
    """SwAV's `distributed_sinkhorn` on one device, in float64 (codes [n, K])."""
    q = np.exp(np.asarray(scores, np.float64) / epsilon).T  # [K, B]
    k, b = q.shape
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(axis=1, keepdims=True)
        q /= k
        q /= q.sum(axis=0, keepdims=True)
        q /= b
    q *= b
    return q.T


def swav(highs, lows, temperature=0.1, epsilon=0.05, iterations=3):
    """SwAV's loop: codes of each high-resolution crop, predicted by every other crop."""
    crops = [np.asarray(c, np.float64) for c in list(highs) + list(lows)]
    loss = 0.0
    for i in range(len(highs)):
        q = sinkhorn(crops[i], epsilon, iterations)
        sub = 0.0
        for v, c in enumerate(crops):
            if v == i:
                continue
            x = c / temperature
            log_p = x - (x.max(1, keepdims=True) + np.log(np.exp(x - x.max(1, keepdims=True))
                                                          .sum(1, keepdims=True)))
            sub -= np.mean(np.sum(q * log_p, axis=1))
        loss += sub / (len(crops) - 1)
    return loss / len(highs)
