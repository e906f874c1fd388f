"""PyTorch + torchdiffeq baseline for `benches/trainer_vs_torchdiffeq.sh`.

Trains the model `odex-train fit` trains with the bench config, on the same
CSV, for the same number of epochs, and prints the seconds per epoch:
- state [EwmaDeviation, LogReturn, EwmaVolatility, Imbalance] computed as
  odex_shared::features does (EWMA level and variance, alpha 0.05, warm-up 20),
  normalised with the training part's mean and standard deviation;
- time-ordered split 70/15/15, windows of horizon + 1 = 6 states;
- dx/dt = kappa (mu - x) + drift + MLP(x), MLP 4 -> 32 -> 32 -> 4 with the
  clamped Pade tanh, float64, RK4 with step 1 (torchdiffeq.odeint);
- J = rollout MSE + l_reg |theta_nn|^2, full-batch Adam, cosine schedule,
  gradient-norm clipping at 1, a validation pass every epoch.
Only torch, torchdiffeq and the standard library are used.
"""
import argparse
import csv
import math
import time

import torch
from torchdiffeq import odeint

ALPHA = 0.05
WARMUP = 20
HORIZON = 5


def features(path):
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        for r in reader:
            v = float(r["volume"])
            b = float(r.get("taker_buy_volume") or 0.0)
            rows.append((float(r["close"]), b, max(v - b, 0.0)))
    out = []
    level = var = lp_prev = 0.0
    for i, (p, b, a) in enumerate(rows):
        lp = math.log(p)
        if i == 0:
            level, var, ret = lp, 0.0, 0.0
        else:
            ret = lp - lp_prev
            level += ALPHA * (lp - level)
            var += ALPHA * (ret * ret - var)
        lp_prev = lp
        tot = a + b
        imb = (b - a) / tot if tot > 0 else 0.0
        out.append([lp - level, ret, math.sqrt(var), imb])
    return torch.tensor(out, dtype=torch.float64)


def pade_tanh(x):
    y = x.clamp(-3.0, 3.0)
    y2 = y * y
    return (y * (y2 + 27.0)) / (y2 * 9.0 + 27.0)


class Hybrid(torch.nn.Module):
    def __init__(self, dim=4, hidden=32):
        super().__init__()
        self.kappa_raw = torch.nn.Parameter(torch.full((dim,), math.log(math.expm1(0.1)), dtype=torch.float64))
        self.mu = torch.nn.Parameter(torch.zeros(dim, dtype=torch.float64))
        self.l1 = torch.nn.Linear(dim, hidden).double()
        self.l2 = torch.nn.Linear(hidden, hidden).double()
        self.l3 = torch.nn.Linear(hidden, dim).double()
        with torch.no_grad():
            self.l3.weight.mul_(0.01)
            self.l3.bias.zero_()

    def forward(self, t, x):
        kappa = torch.nn.functional.softplus(self.kappa_raw)
        h = pade_tanh(self.l1(x))
        h = pade_tanh(self.l2(h))
        return kappa * (self.mu - x) + self.l3(h)

    def network_norm2(self):
        return sum((p * p).sum() for l in (self.l1, self.l2, self.l3) for p in l.parameters())


def windows(states, lo, hi):
    starts = [t for t in range(lo, hi) if t >= WARMUP - 1 and t + HORIZON < hi]
    idx = torch.tensor(starts)[:, None] + torch.arange(HORIZON + 1)[None, :]
    return states[idx]  # [N, H+1, D]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--lr-min", type=float, default=1e-4)
    ap.add_argument("--l-reg", type=float, default=1e-6)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(7)

    raw = features(args.data)
    n = raw.shape[0]
    n_train, n_val = int(n * 0.7), int(n * 0.15)
    warm_train = raw[WARMUP - 1 : n_train]
    mean, std = warm_train.mean(0), warm_train.std(0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    states = (raw - mean) / std
    train = windows(states, 0, n_train)
    val = windows(states, n_train, n_train + n_val)

    model = Hybrid()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    t_grid = torch.arange(HORIZON + 1, dtype=torch.float64)

    def objective(w):
        pred = odeint(model, w[:, 0, :], t_grid, method="rk4", options={"step_size": 1.0})
        pred = pred[1:].transpose(0, 1)  # [N, H, D]
        return ((pred - w[:, 1:, :]) ** 2).mean() + args.l_reg * model.network_norm2()

    start = time.perf_counter()
    for epoch in range(args.epochs):
        lr = args.lr_min + 0.5 * (args.lr - args.lr_min) * (1 + math.cos(math.pi * epoch / args.epochs))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss = objective(train)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            val_loss = objective(val).item()
    elapsed = time.perf_counter() - start
    print(f"torchdiffeq: {args.epochs} epochs, {train.shape[0]} train windows, "
          f"final train J {loss.item():.6e} validation J {val_loss:.6e}")
    print(f"seconds_per_epoch {elapsed / args.epochs:.6f}")


if __name__ == "__main__":
    main()
