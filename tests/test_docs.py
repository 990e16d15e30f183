"""The examples in the public docstrings and in the README run and do what they say."""
import doctest
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from scipy.cluster import hierarchy

import gpuhclust._linkage

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("module", [gpuhclust._linkage])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_readme_tutorial_runs_and_matches_scipy(monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    tutorial = next(b for b in blocks if "plt.show()" in b)
    matplotlib.use("Agg")
    namespace = {}
    exec(compile(tutorial, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    reference = hierarchy.linkage(namespace["X"], "ward")
    np.testing.assert_array_equal(namespace["Z"][:, [0, 1, 3]], reference[:, [0, 1, 3]])
    np.testing.assert_allclose(namespace["Z"][:, 2], reference[:, 2], rtol=1e-13)
    np.testing.assert_array_equal(namespace["labels"],
                                  hierarchy.fcluster(reference, 3, "maxclust"))


def test_readme_links_exist():
    for target in re.findall(r"\]\((docs/[^)]+)\)", README.read_text()):
        assert (README.parent / target).is_file(), target
