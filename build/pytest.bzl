"""pil_py_test: pytest files run under Debian's /usr/bin/python3."""

_PY_DEPS = [
    "//client/python:pild",
    "//tests/pytest_support",
    "@grpc_protos//grpc/health/v1:health_proto_py",
    "@grpc_protos//grpc/reflection/v1alpha:reflection_proto_py",
]

def pil_py_test(name, srcs, data = [], size = "medium", **kwargs):
    """One Bazel test running pytest over `srcs`; each test case counts."""
    native.sh_test(
        name = name,
        size = size,
        srcs = ["//build:pytest_runner.sh"],
        args = ["$(rootpath {})".format(s) for s in srcs],
        data = srcs + data + _PY_DEPS,
        **kwargs
    )
