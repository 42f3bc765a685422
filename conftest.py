"""Test-wide settings, applied before nbval starts any kernel (kernels inherit them).

Tests run in fast mode and draw static figures instead of widgets. DGM_DATA is left as
the caller set it (CI points it at ../shared/data); otherwise the repo's data/ is used.
"""

import os

os.environ["DGM_FAST"] = "1"
os.environ["DGM_STATIC"] = "1"
os.environ.setdefault(
    "DGM_CHECKPOINTS", os.path.join(os.path.dirname(__file__), "checkpoints", "test")
)
