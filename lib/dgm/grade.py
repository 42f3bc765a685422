"""``python -m dgm.grade SUBMISSIONS_DIR``: the autograder (code in ``dgm.course.grade``)."""

import sys

from .course.grade import main

if __name__ == "__main__":
    sys.exit(main())
