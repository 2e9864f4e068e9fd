"""is: the inception score (Salimans et al. 2016) with the judge as the classifier, as WaveGAN scored SC09 digits:

    IS = exp( mean_x KL( p(y | x) || p(y) ) ),   p(y) = mean_x p(y | x)

high when each sample is clearly one class (a confident judge) and the classes are all there in even shares; at
most the number of classes. A one-class collapse scores ~1, as does noise the judge cannot place."""
from __future__ import annotations

import numpy as np

from .registry import EvalSets, register
from .judged import has_judge, judge_outputs, probabilities

TINY = 1e-12  # keeps log finite where a probability underflows to 0


def inception_score(p: np.ndarray) -> float:
    """From class probabilities p (n, K)."""
    marginal = p.mean(0, keepdims=True)  # (1, K)
    kl = (p * (np.log(p + TINY) - np.log(marginal + TINY))).sum(1)  # (n,)
    return float(np.exp(kl.mean()))


@register("is", lower_is_better=False, applies=has_judge)
def inception(samples: np.ndarray, sets: EvalSets, seed: int) -> float:
    """Inception score with the judge: confident and evenly spread classes; up to the number of classes, near real vs real is ideal."""
    return inception_score(probabilities(judge_outputs(samples, sets)[0]))
