"""A training checkpoint whose weights are those of a merged model file.

    python benchmarks/release/stage_checkpoint.py CHECKPOINT MERGED OUT

``ship_vr.sh`` finetunes in stages: a stage after the first starts from the merged weights of the
one before (``FROM=PREV_TAG``). ``licq.zoo.export`` lays a stage's decoder over a training
checkpoint and records that checkpoint's config and step, so OUT is CHECKPOINT's config and step
holding MERGED's tensors (in float32: the merged file is half precision, as shipped).
"""

from __future__ import annotations

import argparse

from licq.atomic import atomic_torch_save
from licq.models.io import load_model_object, state_dict_from_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="the training checkpoint the stages started from")
    ap.add_argument("merged", help="a stage's merged weights (export --with-decoder --candidate)")
    ap.add_argument("out")
    args = ap.parse_args()
    ck = load_model_object(args.checkpoint)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state_dict_from_file(args.merged).items()}
    atomic_torch_save(args.out, {"model": state, "config": ck["config"], "step": ck["step"]})


if __name__ == "__main__":
    main()
