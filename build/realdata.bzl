"""realdata(): the real Qualcomm firmware and device trees tests run on.

Looks for the directory in $PILD_REALDATA (only there when it is set), else
../shared/realdata beside the workspace, else realdata/ inside it (where
tools/fetch-realdata.sh puts it), and links every file into the repository:
  @realdata//:dtbs       dtb/*.dtb
  @realdata//:firmware   firmware/**
  @realdata//:all        both, plus SHA256SUMS
  @realdata//:STATUS     "available <dir>" or "missing <searched dirs>"
When the directory is absent the filegroups are empty and STATUS says
"missing"; tests that need real data read STATUS and fail loudly.
tools/fetch-realdata.sh downloads the same files from Debian.
"""

def _realdata_impl(ctx):
    workspace = ctx.path(Label("//:WORKSPACE")).dirname
    if ctx.os.environ.get("PILD_REALDATA"):
        candidates = [ctx.path(ctx.os.environ["PILD_REALDATA"])]
    else:
        candidates = [
            ctx.path(str(workspace) + "/../shared/realdata"),
            ctx.path(str(workspace) + "/realdata"),
        ]

    found = None
    for c in candidates:
        if c.exists and c.get_child("dtb").exists:
            found = c
            break

    if found:
        result = ctx.execute(["find", "-L", str(found), "-type", "f"])
        if result.return_code != 0:
            fail("cannot list {}: {}".format(found, result.stderr))
        prefix = str(found) + "/"
        for path in sorted(result.stdout.strip().split("\n")):
            if path.startswith(prefix):
                ctx.symlink(path, path[len(prefix):])
        ctx.file("STATUS", "available {}\n".format(found))
    else:
        ctx.file("STATUS", "missing; searched: {}\n".format(
            ", ".join([str(c) for c in candidates]),
        ))

    ctx.file("WORKSPACE", 'workspace(name = "{}")\n'.format(ctx.name))
    ctx.file("BUILD.bazel", """
package(default_visibility = ["//visibility:public"])

exports_files(["STATUS"])

filegroup(name = "dtbs", srcs = glob(["dtb/*.dtb"]))

filegroup(name = "firmware", srcs = glob(["firmware/**"]))

filegroup(
    name = "all",
    srcs = [":dtbs", ":firmware", "STATUS"] + glob(["SHA256SUMS"]),
)
""")

realdata = repository_rule(
    implementation = _realdata_impl,
    environ = ["PILD_REALDATA"],
    local = True,
)
