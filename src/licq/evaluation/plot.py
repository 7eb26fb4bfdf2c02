"""Rate-distortion plots (PSNR and MS-SSIM against bpp) with matplotlib."""

from __future__ import annotations

import io
from pathlib import Path

from ..atomic import atomic_write_bytes


def curve_colors(n: int) -> list[tuple[float, ...]]:
    """One colour per curve, the same in every panel; distinct up to 20 curves (matplotlib's
    default cycle repeats after 10, and the Kodak plot has more: licq and WebP shared a colour)."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if n <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(n)]


def plot_rd(curves: list[dict], out: str | Path, title: str = "", metrics=("psnr-rgb", "ms-ssim-rgb"),
            xmax: float | None = None) -> None:
    """One panel per metric; each results dict (CompressAI schema) is one curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in metrics if any(c["results"].get(m) for c in curves)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 4.8), squeeze=False)
    colors = curve_colors(len(curves))
    for ax, metric in zip(axes[0], metrics):
        for i, c in enumerate(curves):
            r = c["results"]
            if not r.get(metric):
                continue
            pts = sorted((b, v) for b, v in zip(r["bpp"], r[metric]) if v is not None)
            if xmax is not None:
                pts = [p for p in pts if p[0] <= xmax]
            if pts:
                style = {"color": colors[i], **c.get("style", {})}
                ax.plot(*zip(*pts), marker="o", ms=3.5, label=c.get("name", "?"), **style)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel({"psnr-rgb": "PSNR RGB [dB]", "ms-ssim-rgb": "MS-SSIM RGB"}.get(metric, metric))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(out).suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
