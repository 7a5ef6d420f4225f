"""Builds the pild package; see pyproject.toml for its metadata.

The generated modules (pild._proto) are written into the build by
gen_protos.py, from the .proto files of the pild repository this file is in
(or $PILD_PROTO_ROOT, or the copy an sdist carries in _protos/). The
version is pild's (common/version.h).
"""

import os
import re
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import gen_protos  # noqa: E402


def version(root):
    with open(os.path.join(root, "common", "version.h")) as f:
        found = re.search(r'kVersion\[\] = "([^"]+)"', f.read())
    if not found:
        raise SystemExit("pild: no kVersion in %s/common/version.h" % root)
    return found.group(1)


class BuildWithProtos(build_py):
    """build_py, then the generated modules into the build."""

    def run(self):
        super().run()
        gen_protos.generate(gen_protos.locate_root(__file__), self.build_lib)


class SdistWithProtos(sdist):
    """An sdist that carries the .proto files and version.h (in _protos/),
    so that a wheel builds from it alone."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        root = gen_protos.locate_root(__file__)
        destination = os.path.join(base_dir, "_protos")
        gen_protos.copy_protos(root, destination)
        os.makedirs(os.path.join(destination, "common"), exist_ok=True)
        self.copy_file(os.path.join(root, "common", "version.h"),
                       os.path.join(destination, "common", "version.h"))


setup(
    version=version(gen_protos.locate_root(__file__)),
    packages=["pild"],
    package_data={"pild": ["py.typed"]},
    cmdclass={"build_py": BuildWithProtos, "sdist": SdistWithProtos},
)
