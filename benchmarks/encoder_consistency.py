"""Experiment (issue 15): finetune the encoder side g_a, h_a (decoder frozen) for re-encoding consistency.

Loss: ``bpp + λ·255²·MSE`` (mixed surrogate, bf16) plus ``β·(‖g_a(x₁) − ŷ‖² + ‖h_a(g_a(x₁)) − ẑ‖²)``
(means over elements), where ``x₁`` is the decoded image of ``ŷ``/``ẑ`` rounded to 8 bits: a decoded
image should re-encode to its own latents. ``--margin m`` replaces the squares by a hinge that
only penalises leaving the rounding cell less ``m``. Logs the share of re-encoded latents and
hyper-latents that round elsewhere (flip_y, flip_z) to OUT/log.csv and saves OUT/checkpoint.pt
(a state dict for ``recompression.py --model``). Not part of the package: it raised the rate (the
hyper-latent collapses towards its medians, σ grows); results/idempotence/README.md.

    python benchmarks/encoder_consistency.py --beta 10 --steps 400 --out /root/proto/b10
"""
import argparse, copy, time, csv, sys, torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from licq.models import resolve
from licq.training.loop import step_loader, psnr_db
from licq.training.surrogates import surrogate_forward, rd_terms
from licq.training.precision import transform_runner

p = argparse.ArgumentParser()
p.add_argument("--base", default="licq-q3"); p.add_argument("--lmbda", type=float, default=0.0067)
p.add_argument("--beta", type=float, default=10.0); p.add_argument("--steps", type=int, default=300)
p.add_argument("--lr", type=float, default=5e-5); p.add_argument("--crop", type=int, default=128)
p.add_argument("--batch", type=int, default=8); p.add_argument("--out", required=True)
p.add_argument("--threads", type=int, default=1); p.add_argument("--margin", type=float, default=-1)
a = p.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(0)
base = resolve(a.base)
net = copy.deepcopy(base.net)
for q in net.parameters(): q.requires_grad_(False)
trained = [q for n in ("g_a", "h_a") for q in getattr(net, n).parameters()]
for q in trained: q.requires_grad_(True)
net.g_a.train(); net.h_a.train(); net.entropy_bottleneck.train(); net.gaussian_conditional.train()
opt = torch.optim.Adam(trained, lr=a.lr)
excl = {Path(line).name for line in Path("results/finetune/heldout.txt").read_text().split()}  # the loader matches names
loader = step_loader(["../shared/data/train"], crop=a.crop, downscale=(0.5, 0.75), seed=1, start=0, steps=a.steps,
                     batch=a.batch, rank=0, world=1, exclude=excl)
out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
log = open(out / "log.csv", "w"); w = csv.writer(log); w.writerow(["step","bpp","psnr","cons_y","cons_z","flip_y","flip_z","s"])
eb, gc = net.entropy_bottleneck, net.gaussian_conditional
t0 = time.time(); acc = []
for step, x in enumerate(loader, 1):
    if step > 0.85 * a.steps:
        for g in opt.param_groups: g["lr"] = a.lr / 10
    o = surrogate_forward(net, x, "mixed", "bf16")
    bpp, mse = rd_terms(o, x)
    run = transform_runner(x, "bf16")
    with torch.no_grad():
        y = net.g_a(x); z = net.h_a(y)
        med = eb._get_medians()
        z_hat = torch.round(z - med) + med
        means, scales = net.hyper(z_hat)
        lev = torch.round(y - means)
        y_hat = lev + means
        x1 = torch.round(run(net.g_s, y_hat).clamp(0, 1) * 255) / 255
    y2 = run(net.g_a, x1).float(); z2 = run(net.h_a, y2).float()
    if a.margin < 0:
        cy = torch.mean((y2 - y_hat) ** 2); cz = torch.mean((z2 - z_hat) ** 2)
    else:  # hinge: only leaving the rounding cell (less a margin) costs
        cy = torch.mean(torch.relu((y2 - y_hat).abs() - (0.5 - a.margin)) ** 2)
        cz = torch.mean(torch.relu((z2 - z_hat).abs() - (0.5 - a.margin)) ** 2)
    loss = bpp + a.lmbda * 255 ** 2 * mse + a.beta * (cy + cz)
    opt.zero_grad(set_to_none=True); loss.backward()
    torch.nn.utils.clip_grad_norm_(trained, 1.0); opt.step()
    with torch.no_grad():
        fz = (torch.round(z2 - med) + med != z_hat).float().mean().item()
        fy = (torch.round(y2 - means) != lev).float().mean().item()
    acc.append([bpp.item(), mse.item(), cy.item(), cz.item(), fy, fz])
    if step % 25 == 0:
        m = [sum(c) / len(c) for c in zip(*acc)]; acc = []
        w.writerow([step, f"{m[0]:.4f}", f"{psnr_db(m[1]):.3f}", f"{m[2]:.4f}", f"{m[3]:.4f}", f"{m[4]:.4f}", f"{m[5]:.4f}", f"{time.time()-t0:.0f}"]); log.flush()
    if step % 100 == 0 or step == a.steps:
        torch.save({"model": {k: v.detach().clone() for k, v in net.state_dict().items()}, "step": step}, out / "checkpoint.pt")
