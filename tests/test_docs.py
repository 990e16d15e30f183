"""The examples in the public docstrings run and print what they say."""
import doctest

import pytest

import gpuhclust._linkage


@pytest.mark.parametrize("module", [gpuhclust._linkage])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
