"""The course's data, as tensors on the device: MNIST (``dgm.data.mnist``) and the 2-D toy
data (``dgm.data.toys``). Every public function of both is here too:
``dgm.data.load_mnist``, ``dgm.data.gaussian_grid``. (The download's settings, such as
``MIRRORS``, live in ``dgm.data.mnist`` only, where changing them takes effect.)
"""

from .mnist import (
    batches,
    binarized_mnist,
    binarized_stream,
    dynamic_binarize,
    load_mnist,
    mnist_path,
    read_idx,
)
from .toys import (
    blobs,
    blobs_params,
    gaussian_grid,
    gaussian_mixture,
    gaussian_ring,
    grid_centres,
    ring_centres,
    swiss_roll,
    two_moons,
    unequal_centres,
    unequal_modes,
)

__all__ = [
    "batches",
    "binarized_mnist",
    "binarized_stream",
    "blobs",
    "blobs_params",
    "dynamic_binarize",
    "gaussian_grid",
    "gaussian_mixture",
    "gaussian_ring",
    "grid_centres",
    "load_mnist",
    "mnist_path",
    "read_idx",
    "ring_centres",
    "swiss_roll",
    "two_moons",
    "unequal_centres",
    "unequal_modes",
]
