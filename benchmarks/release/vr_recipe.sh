# The variable-rate model's training recipe, sourced by campaign.sh and gpu_leg.sh (docs/variable-rate.md):
# the transforms warm-started from licq-q3 learn at VR_LR, the parameters licq-q3 lacks (context
# networks, LRP, gains) at VR_FRESH_LR, and each crop's loss is weighted by (λ_3/λ)^VR_QUALITY_BALANCE.
VR_LR=2e-5
VR_FRESH_LR=1e-3
VR_QUALITY_BALANCE=0.45
