"""pil_test_image: a synthetic firmware image, test-signed at build time.

Runs //tools:pilimage synth then sign with the TEST-ONLY chains of
platform/image/testkeys. `synth` and `sign` are lists of extra pilimage
flags, e.g. synth = ["--base=0x9bb00000", "--size=0x200000"],
sign = ["--version=7", "--chain=ec", "--sw-id=0xe"].
"""

def pil_test_image(name, synth = [], sign = [], visibility = None):
    native.genrule(
        name = name + "_sign",
        srcs = ["//platform/image:testkeys"],
        outs = [name],
        tools = ["//tools:pilimage"],
        cmd = " && ".join([
            "keys=$$(dirname $$(echo $(locations //platform/image:testkeys) | cut -d' ' -f1))",
            "$(location //tools:pilimage) synth {} $(@D)/{}.elf".format(" ".join(synth), name),
            "$(location //tools:pilimage) sign --keys=$$keys {} $(@D)/{}.elf $@".format(" ".join(sign), name),
            "rm $(@D)/{}.elf".format(name),
        ]),
        message = "test-signing " + name,
        visibility = visibility,
    )
