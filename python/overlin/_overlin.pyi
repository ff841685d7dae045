"""Type stubs of the native module ``overlin._overlin`` (Rust, PyO3).

Use the documented wrappers in ``overlin`` instead; these functions return
plain dicts that the wrappers turn into classes.
"""

from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

def run(
    x: np.ndarray, y: np.ndarray, w1: np.ndarray, w2: np.ndarray, *, loss: str, gamma: float,
    lam: float, precision: Optional[str], rule: str, iters: int, tol: float, relative: bool,
    imbalance_every: int, stall_window: int, anytime_every: int,
) -> Dict[str, Any]: ...
def certify(
    x: np.ndarray, y: np.ndarray, w1: np.ndarray, w2: np.ndarray, *, loss: str, gamma: float,
    lam: float, precision: Optional[str], tol: float,
) -> Dict[str, Any]: ...

class StepPrediction:
    def prediction(self) -> Dict[str, Union[float, bool]]: ...
    def check(self, w1: np.ndarray, w2: np.ndarray) -> Dict[str, Union[float, bool, str]]: ...
    def gradient_step(self) -> Tuple[np.ndarray, np.ndarray]: ...

def step_certificate(
    x: np.ndarray, y: np.ndarray, w1: np.ndarray, w2: np.ndarray, eta: float, *, loss: str,
    gamma: float, lam: float, precision: Optional[str],
) -> StepPrediction: ...
def problem(
    *, loss: str, n: int, m: int, h: int, samples: int, kappa: Union[float, str], noise: float,
    target_std: Optional[float], gamma: float, lam: float, init: str, sigma: float, scale: float,
    seed: int, data_seed: Optional[int], precision: str,
) -> Dict[str, Any]: ...
def init(
    n: int, h: int, m: int, *, kind: str, sigma: float, scale: float, seed: int, precision: str,
) -> Tuple[np.ndarray, np.ndarray]: ...
