"""pil_proto_library: C++ (and optionally Python) code from .proto files.

Runs Debian's protoc with the gRPC plugins in one genrule. For
pil_proto_library(name = "x", srcs = ["a.proto"], grpc = True, py = True):
  :x         cc_library with a.pb.{h,cc} and a.grpc.pb.{h,cc}
  :x_py      filegroup with a_pb2.py and a_pb2_grpc.py
  :x_protos  the .proto files, with those of `deps`, for dependants' protoc runs
`deps` are other pil_proto_library targets (labels of their cc_library).
`import_root` is the directory .proto imports are relative to, when it is
not the repository root (e.g. "third_party/googleapis").
"""

def _root_of(label):
    """The protoc import root (execroot-relative) of a label's repository."""
    if label.startswith("@") and not label.startswith("@//") and not label.startswith("@pild//"):
        return "external/" + label[1:].split("//")[0]
    return "."

def pil_proto_library(name, srcs, deps = [], grpc = False, py = False, import_root = None, visibility = None):
    repo = native.repository_name()
    root = "." if repo in ["@", "@pild"] else "external/" + repo[1:]
    pkg = native.package_name()
    if import_root:
        if pkg != import_root and not pkg.startswith(import_root + "/"):
            fail("import_root {} does not contain package {}".format(import_root, pkg))
        root = import_root if root == "." else root + "/" + import_root
        pkg = pkg[len(import_root) + 1:]
    bases = [s[:-len(".proto")] for s in srcs]

    cc_hdrs = [b + ".pb.h" for b in bases]
    cc_srcs = [b + ".pb.cc" for b in bases]
    py_outs = [b + "_pb2.py" for b in bases] if py else []
    if grpc:
        cc_hdrs += [b + ".grpc.pb.h" for b in bases]
        cc_srcs += [b + ".grpc.pb.cc" for b in bases]
        py_outs += [b + "_pb2_grpc.py" for b in bases] if py else []

    dep_protos = [d + "_protos" for d in deps]
    native.filegroup(
        name = name + "_protos",
        srcs = srcs + dep_protos,
        visibility = ["//visibility:public"],
    )

    includes = [root] + [_root_of(d) for d in deps if _root_of(d) != root]
    rel = [(pkg + "/" + s if pkg else s) for s in srcs]
    out_dir = "$(GENDIR)" + ("" if root == "." else "/" + root)
    cmd = ["/usr/bin/protoc", "-I/usr/include"] + ["-I" + i for i in includes]
    cmd += ["--cpp_out=" + out_dir]
    if grpc:
        cmd += [
            "--grpc_out=" + out_dir,
            "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin",
        ]
    if py:
        cmd += ["--python_out=" + out_dir]
        if grpc:
            cmd += [
                "--grpc_python_out=" + out_dir,
                "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
            ]
    native.genrule(
        name = name + "_gen",
        srcs = srcs + dep_protos,
        outs = cc_hdrs + cc_srcs + py_outs,
        cmd = " ".join(cmd + rel),
        message = "protoc " + " ".join(srcs),
    )

    native.cc_library(
        name = name,
        srcs = cc_srcs,
        hdrs = cc_hdrs,
        includes = ["/".join([".."] * len(pkg.split("/"))) if pkg else "."] if import_root else [],
        copts = ["-Wno-unused-parameter"],
        deps = deps + ["@system//:protobuf"] + (["@system//:grpcpp"] if grpc else []),
        visibility = visibility,
    )
    if py:
        native.filegroup(
            name = name + "_py",
            srcs = py_outs + [d + "_py" for d in deps],
            visibility = visibility,
        )
