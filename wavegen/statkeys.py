"""The names of the per-batch statistics in stats.jsonl: what the training step writes, and what the run folder's
readers and the reports index."""

STAT_KEYS = ("loss/G", "loss/D", "D/real", "D/fake", "grad_norm/G", "grad_norm/D")  # every batch row holds these
PENALTY_KEY = "loss/penalty"  # wgan-gp or R1 on: the penalty added to D's loss, mean over the batch's D steps
FM_KEY = "loss/G/fm"  # feature matching's part of loss/G (already weighted)
AUGMENT_KEYS = ("augment/p", "augment/rt")  # augment on: the p of the batch's augmentations, and its D's r_t (ADA's)
