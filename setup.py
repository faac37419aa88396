"""Build step pyproject.toml cannot state: ship the repository's top-level `schemas/` and
`scenarios/` inside the package (emulator/_schemas, emulator/_scenarios), where
emulator.resources.shipped() finds them in an installed wheel. Everything else is in
pyproject.toml; MANIFEST.in puts both folders in the sdist."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("schemas", "scenarios")


class BuildWithSchemas(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's folders directly
            return
        for name in SHIPPED:
            target = Path(self.build_lib) / "emulator" / f"_{name}"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithSchemas})
