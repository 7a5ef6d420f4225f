"""pil_dtb: a device-tree blob compiled from .dts sources with dtc."""

def pil_dtb(name, src, deps = [], visibility = None):
    """Compiles a .dts (and the .dtsi files in `deps`) into NAME with dtc."""
    native.genrule(
        name = name + "_dtc",
        srcs = [src] + deps,
        outs = [name],
        cmd = "/usr/bin/dtc -q -I dts -O dtb -i $$(dirname $(location {})) -o $@ $(location {})".format(src, src),
        message = "dtc " + src,
        visibility = visibility,
    )
