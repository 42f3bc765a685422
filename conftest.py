"""Test-wide settings, applied before nbval starts any kernel (kernels inherit them).

Tests run in fast mode and draw static figures instead of widgets. DGM_DATA is left as
the caller set it (CI points it at ../shared/data); otherwise the repo's data/ is used.
"""

import os
import tempfile

os.environ["DGM_FAST"] = "1"
os.environ["DGM_STATIC"] = "1"
# a fresh folder per run: a notebook must not resume from an older run's checkpoint
os.environ["DGM_CHECKPOINTS"] = tempfile.mkdtemp(prefix="dgm-test-checkpoints-")
