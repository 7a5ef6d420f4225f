"""pil_corpus: a directory of fuzz inputs made by a generator script."""

def _pil_corpus_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    seeds = ctx.files.seeds
    ctx.actions.run(
        executable = "/usr/bin/python3",
        arguments = [ctx.file.generator.path, out.path] + [s.path for s in seeds],
        inputs = [ctx.file.generator] + seeds + ctx.files.libs,
        outputs = [out],
        mnemonic = "FuzzCorpus",
        progress_message = "generating fuzz corpus " + ctx.label.name,
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

pil_corpus = rule(
    implementation = _pil_corpus_impl,
    attrs = {
        "generator": attr.label(allow_single_file = [".py"], mandatory = True),
        "seeds": attr.label_list(allow_files = True),
        # Python modules the generator imports, beside it.
        "libs": attr.label_list(allow_files = [".py"]),
    },
)
