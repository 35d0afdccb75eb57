"""Array helpers shared by the tests."""
import numpy as np


def read_only(a: np.ndarray) -> np.ndarray:
    """A write-protected copy: a core that writes into its input fails loudly on it."""
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a
