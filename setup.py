"""The one compiled part: extract_split's per-row loop (scripts/mmeops/extract/_fastsplit.c).

Everything else is in pyproject.toml. The extension is optional: without a C compiler the
install still succeeds and extract_split runs the same operations in Python, slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mmeops.extract._fastsplit",
            ["scripts/mmeops/extract/_fastsplit.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
