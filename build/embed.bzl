"""pil_embed: a cc_library holding files as data compiled into the binary."""

def pil_embed(name, srcs, namespace, function, visibility = None):
    """Embeds `srcs` (a dict of embedded name -> label of one file).

    Generates NAME.h declaring
      absl::Span<const std::pair<absl::string_view, absl::string_view>>
      <namespace>::<function>();
    """
    pkg = native.package_name()
    header = name + ".h"
    args = " ".join(["{}=$(location {})".format(n, l) for n, l in srcs.items()])
    native.genrule(
        name = name + "_gen",
        srcs = srcs.values(),
        outs = [header, name + ".cc"],
        tools = ["//build:embed"],
        cmd = "$(location //build:embed) $(location {h}) $(location {c}) {inc} {ns} {fn} {args}".format(
            h = header,
            c = name + ".cc",
            inc = (pkg + "/" if pkg else "") + header,
            ns = namespace,
            fn = function,
            args = args,
        ),
    )
    native.cc_library(
        name = name,
        srcs = [name + ".cc"],
        hdrs = [header],
        deps = ["@system//:absl"],
        visibility = visibility,
    )
