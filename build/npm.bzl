"""npm_tool(): a command-line tool from the npm registry, for tests.

Fetches the platform package of a tool that npm would install (for buf:
@bufbuild/buf-linux-x64 or -aarch64, the package @bufbuild/buf installs as
its optional dependency), checked against the integrity the registry
publishes, and exposes:
  @<name>//:bin      the tool's executable (empty when it could not be had)
  @<name>//:STATUS   "available <version>" or "missing: <why>"
Tests read STATUS and fail naming what is missing, as with real data, so
that the rest of the suite still builds and runs without the registry.
"""

_ARCH = {"amd64": "x64", "x86_64": "x64", "aarch64": "aarch64", "arm64": "aarch64"}

def _npm_tool_impl(ctx):
    machine = ctx.execute(["uname", "-m"]).stdout.strip()
    arch = _ARCH.get(machine)
    package = "{}-linux-{}".format(ctx.attr.package, arch)
    integrity = ctx.attr.integrity.get(arch)
    status = None
    if ctx.os.name != "linux" or integrity == None:
        status = "missing: no {} package for {} {}".format(ctx.attr.package, ctx.os.name, machine)
    else:
        bare = package.rpartition("/")[2]
        url = "{}/{}/-/{}-{}.tgz".format(ctx.attr.registry, package, bare, ctx.attr.version)
        got = ctx.download_and_extract(
            url = url,
            output = "package",
            stripPrefix = "package",
            type = "tar.gz",
            integrity = integrity,
            allow_fail = True,
        )
        if got.success:
            status = "available {}@{}".format(package, ctx.attr.version)
        else:
            status = "missing: cannot download {} from the npm registry ({})".format(package, url)
    ctx.file("STATUS", status + "\n")
    ctx.file("WORKSPACE", 'workspace(name = "{}")\n'.format(ctx.name))
    ctx.file("BUILD.bazel", """
package(default_visibility = ["//visibility:public"])

exports_files(["STATUS"])

filegroup(name = "bin", srcs = glob(["package/bin/{tool}"]))
""".format(tool = ctx.attr.tool))

npm_tool = repository_rule(
    implementation = _npm_tool_impl,
    attrs = {
        "package": attr.string(mandatory = True),
        "version": attr.string(mandatory = True),
        "tool": attr.string(mandatory = True),
        # Per architecture (x64, aarch64): the registry's dist.integrity.
        "integrity": attr.string_dict(mandatory = True),
        "registry": attr.string(default = "https://registry.npmjs.org"),
    },
)
