"""The quantizer parameters a command gets when it leaves them out.

SQ uses Δ = 1; RDOQ Δ = 1 and λ = 0.01·Δ² (its sweep); TCQ the Δ and λ measured for
each zoo model by ``benchmarks/release/tcq_sweep.py`` and recorded in the zoo manifest.
A finetuned decoder accepts only the setting it was trained for.
"""

from __future__ import annotations

from ..errors import LicqError
from .spec import BY_NAME
from .rdoq import default_lambda

#: Used where a model has no measured TCQ defaults (user weight files, new models).
FALLBACK_TCQ = {"4": {"step": 0.6, "tcq_lambda": 0.02}, "8": {"step": 0.6, "tcq_lambda": 0.02}}


def _finetuned_setting(name: str, quantizer: str, given: dict) -> dict | None:
    """The setting a finetuned zoo decoder was trained for (refusing any other); None for other models."""
    from ..zoo import entry  # the manifest; the zoo does not depend on quantizers

    if name.startswith("@") or "decoder_for" not in entry(name):
        return None
    d = entry(name)["decoder_for"]
    # NaN matches nothing
    if quantizer != d["quantizer"] or any(v is not None and not abs(v - d[k]) <= 1e-6 for k, v in given.items()):
        raise LicqError(f"{name} is a decoder finetuned for {d['quantizer']} with step {d['step']}, "
                        f"states {d['states']}, tcq-lambda {d['tcq_lambda']}; use that setting or its base "
                        f"model {entry(name)['base']}")
    return {k: d[k] for k in ("step", "states", "tcq_lambda")}


def quantizer_defaults(name: str, quantizer: str, step: float | None, states: int | None,
                       tcq_lambda: float | None) -> dict:
    """Fill unset quantizer parameters: SQ Δ=1; RDOQ Δ=1, λ=0.01·Δ²; TCQ from the model's sweep (manifest)."""
    fixed = _finetuned_setting(name, quantizer, {"step": step, "states": states, "tcq_lambda": tcq_lambda})
    if fixed is not None:
        return fixed
    if quantizer == "rdoq":  # no measured setting: Δ = 1 and λ derived from Δ
        step = 1.0 if step is None else step
        return {"step": step, "states": states or 0,
                "tcq_lambda": default_lambda(step) if tcq_lambda is None else tcq_lambda}
    if quantizer != "tcq":
        return {"step": 1.0 if step is None else step, "states": states or 0,
                "tcq_lambda": tcq_lambda or 0.0}
    from ..zoo import entry

    states = states or BY_NAME["tcq"].default_states
    table = FALLBACK_TCQ if name.startswith("@") else entry(name).get("tcq", FALLBACK_TCQ)
    d = table.get(str(states), FALLBACK_TCQ["8"])
    return {"step": d["step"] if step is None else step, "states": states,
            "tcq_lambda": d["tcq_lambda"] if tcq_lambda is None else tcq_lambda}
