"""Repository rules exposing Debian's system libraries to Bazel.

system_libraries() asks pkg-config once for every library the project links
and writes one cc_library per library; headers come from /usr/include.
debian_protos() links .proto files that Debian ships and builds them with
pil_proto_library().
"""

# name -> pkg-config modules (or raw linkopts when the library has no .pc).
_LIBRARIES = {
    "absl": {"pkg": [
        "absl_flags",
        "absl_flags_parse",
        "absl_flags_usage",
        "absl_hash",
        "absl_raw_hash_set",
        "absl_status",
        "absl_statusor",
        "absl_str_format",
        "absl_strings",
        "absl_synchronization",
        "absl_time",
    ]},
    "benchmark": {"pkg": ["benchmark"]},
    "benchmark_main": {"raw": ["-lbenchmark_main"], "deps": [":benchmark"]},
    "crypto": {"pkg": ["libcrypto"]},
    "fdt": {"raw": ["-lfdt"]},
    "fuse3": {"pkg": ["fuse3"]},
    "gmock": {"pkg": ["gmock"]},
    "grpcpp": {"pkg": ["grpc++"]},
    "grpcpp_reflection": {"raw": ["-lgrpc++_reflection"], "deps": [":grpcpp"]},
    "gtest": {"pkg": ["gtest"]},
    "gtest_main": {"pkg": ["gtest_main"]},
    "lzma": {"pkg": ["liblzma"]},
    "protobuf": {"pkg": ["protobuf"]},
    "sqlite3": {"pkg": ["sqlite3"]},
    "systemd": {"pkg": ["libsystemd"]},
    "zstd": {"pkg": ["libzstd"]},
}

def _pkg_config(ctx, modules, flag):
    result = ctx.execute(["pkg-config", flag] + modules)
    if result.return_code != 0:
        fail(("pkg-config {} {} failed: {}\nThe Debian -dev packages are missing; " +
              "run the build through ./bazelw, which installs them.").format(
            flag,
            " ".join(modules),
            result.stderr,
        ))
    return [f for f in result.stdout.strip().split(" ") if f]

def _system_libraries_impl(ctx):
    lines = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, spec in sorted(_LIBRARIES.items()):
        copts = []
        linkopts = list(spec.get("raw", []))
        if spec.get("pkg"):
            copts = [f for f in _pkg_config(ctx, spec["pkg"], "--cflags") if not f.startswith("-I")]
            linkopts = _pkg_config(ctx, spec["pkg"], "--libs") + linkopts
        lines.append("cc_library(")
        lines.append("    name = {},".format(repr(name)))
        lines.append("    defines = {},".format(repr([f[2:] for f in copts if f.startswith("-D")])))
        lines.append("    linkopts = {},".format(repr(linkopts)))
        lines.append("    deps = {},".format(repr(spec.get("deps", []))))
        lines.append(")")
        lines.append("")
    ctx.file("WORKSPACE", 'workspace(name = "{}")\n'.format(ctx.name))
    ctx.file("BUILD.bazel", "\n".join(lines))

system_libraries = repository_rule(
    implementation = _system_libraries_impl,
    local = True,
)

def _debian_protos_impl(ctx):
    root = ctx.attr.root
    for pkg, protos in ctx.attr.packages.items():
        for proto in protos:
            src = ctx.path("{}/{}/{}".format(root, pkg, proto))
            if not src.exists:
                fail(("{} is missing; it comes from Debian's {} package. " +
                      "Run the build through ./bazelw, which installs it.").format(
                    src,
                    ctx.attr.debian_package,
                ))
            ctx.symlink(src, "{}/{}".format(pkg, proto))
        ctx.file("{}/BUILD.bazel".format(pkg), """
load("@pild//build:proto.bzl", "pil_proto_library")

pil_proto_library(
    name = "{name}",
    srcs = {srcs},
    grpc = {grpc},
    py = True,
    visibility = ["//visibility:public"],
)
""".format(
            name = pkg.split("/")[-1] + "_proto" if pkg.split("/")[-1] != "v1" and pkg.split("/")[-1] != "v1alpha" else pkg.split("/")[-2] + "_proto",
            srcs = repr(protos),
            grpc = repr(ctx.attr.grpc),
        ))
    ctx.file("WORKSPACE", 'workspace(name = "{}")\n'.format(ctx.name))

# .proto files Debian ships, built with pil_proto_library. The target of
# package a/b/c is //a/b/c:c_proto (versioned packages a/b/v1: //a/b/v1:b_proto).
debian_protos = repository_rule(
    implementation = _debian_protos_impl,
    attrs = {
        "root": attr.string(mandatory = True),
        "packages": attr.string_list_dict(mandatory = True),
        "grpc": attr.bool(default = False),
        "debian_package": attr.string(mandatory = True),
    },
    local = True,
)
