"""Compiler and linker options for the project's own C++ code."""

# Warnings as errors; hardening (fortified libc calls, stack protector) in
# every build but the sanitizer ones, which instrument those calls
# themselves. Fortification needs optimization: fastbuild gets -O1 for the
# project's code (opt builds keep their -O2).
PILD_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
] + select({
    "//build:sanitized": [],
    "//conditions:default": [
        "-U_FORTIFY_SOURCE",
        "-D_FORTIFY_SOURCE=2",
        "-fstack-protector-strong",
    ],
}) + select({
    "//build:opt": [],
    "//conditions:default": ["-O1"],
})

# pild, pilctl and pilsim: position-independent (with --force_pic, set in
# .bazelrc) and with full RELRO.
PILD_BINARY_LINKOPTS = [
    "-pie",
    "-Wl,-z,relro,-z,now",
]
