"""pil_fuzz_target: a libFuzzer target and its corpus replay test.

For pil_fuzz_target(name = "x_fuzzer", ...):
  :x_fuzzer       with --config=fuzz, a libFuzzer binary (ASan + UBSan);
                  otherwise the same code with a main that replays inputs
  :x_fuzzer_test  replays `corpus` (files or filegroups) in `bazel test`,
                  and `realdata_corpus` (folders of @realdata, such as "dtb")
tools/fuzz.sh runs the libFuzzer binaries.

Real data is named by folder, not by filegroup, so that the test still
builds where @realdata is empty; there it fails with "REAL DATA MISSING".
"""

_REALDATA_FOLDERS = {"dtb": "@realdata//:dtbs", "firmware": "@realdata//:firmware"}

def pil_fuzz_target(name, srcs, deps, corpus, realdata_corpus = [], copts = []):
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
        args = ["$(rootpaths {})".format(c) for c in corpus] + [
            "--realdata=$(rootpath @realdata//:STATUS):" + folder
            for folder in realdata_corpus
        ],
        data = corpus + (["@realdata//:STATUS"] if realdata_corpus else []) + [
            _REALDATA_FOLDERS[folder]
            for folder in realdata_corpus
        ],
        deps = deps + ["//tests/fuzz:replay_main"],
    )
