"""The one compiled part: the extract's per-row loops, COPY and split
(scripts/mmeops/extract/_fastsplit.c).

Everything else is in pyproject.toml. The extension is optional: without a C compiler the
install still succeeds and the extract runs the same operations in Python, slower. It needs
no libpq headers: the COPY loop uses the libpq psycopg2 loaded (extract/copyout.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mmeops.extract._fastsplit",
            ["scripts/mmeops/extract/_fastsplit.c"],
            depends=["scripts/mmeops/extract/_float8.h"],  # included by _fastsplit.c
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
