"""Compiler options for the project's own C++ code."""

PILD_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
]
