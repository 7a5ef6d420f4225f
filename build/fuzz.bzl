"""pil_fuzz_target: a libFuzzer target and its corpus replay test.

For pil_fuzz_target(name = "x_fuzzer", ...):
  :x_fuzzer       with --config=fuzz, a libFuzzer binary (ASan + UBSan);
                  otherwise the same code with a main that replays inputs
  :x_fuzzer_test  replays `corpus` (files or filegroups) in `bazel test`
tools/fuzz.sh runs the libFuzzer binaries.
"""

def pil_fuzz_target(name, srcs, deps, corpus, copts = []):
    native.cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        copts = copts,
        linkopts = select({
            "//tests/fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        deps = deps + select({
            "//tests/fuzz:libfuzzer": [],
            "//conditions:default": ["//tests/fuzz:replay_main"],
        }),
    )
    native.cc_test(
        name = name + "_test",
        srcs = srcs,
        copts = copts,
        args = ["$(rootpaths {})".format(c) for c in corpus],
        data = corpus,
        deps = deps + ["//tests/fuzz:replay_main"],
    )
