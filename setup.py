"""setuptools hooks for litebox-pack (the metadata is in pyproject.toml).

Building a wheel also bundles what a checkout would otherwise provide (packager/targets/
bundle.py): the target plugins, the build graph, the templates and a runtime per target built
from these sources with cargo. So the wheel is specific to x86-64 Linux (its tag says so). An
editable install (`pip install -e .`) bundles nothing: it runs from the checkout.
"""
from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70 takes it from the wheel package
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent


class BuildPyWithBundle(build_py):
    """build_py, then packager/_bundle/ in the build tree (not for editable installs)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        sys.path.insert(0, str(HERE))
        from packager.targets.bundle import make_bundle

        make_bundle(HERE, Path(self.build_lib) / "packager" / "_bundle")


class PlatformWheel(bdist_wheel):
    """A wheel for any Python 3 on x86-64 Linux: it carries native runtimes, no extension."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple[str, str, str]:
        return "py3", "none", "linux_x86_64"


setup(cmdclass={"build_py": BuildPyWithBundle, "bdist_wheel": PlatformWheel})
