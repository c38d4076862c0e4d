"""The wheel carries the CLI and the Lambda runtime, not the sandbox: its demo, fixture estates,
emulators and local HTTP sinks stay in the checkout. Everything else about the package is in
pyproject.toml. The editable install (`make install`) maps the source folders, so the sandbox and
the tests still import these modules from the checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# `make demo` and test support only; no `mlgov` command imports them (tests/integration/test_wheel.py
# runs every command group from the installed wheel). mlgov/scenes/ is also left out in pyproject.toml.
SANDBOX_PACKAGES = ("scenes",)
SANDBOX_ONLY = frozenset(
    {
        "sandbox",
        "emulator",
        "emulator_sfn",
        "emulator_map",
        "estate",
        "capacity_estate",
        "catalog_estate",
        "challenger_estate",
        "org_estate",
        "retirement_estate",
        "sinks",
        "approvals_sandbox",
        "function_url",
    }
)


def sandbox_only(package: str, module: str) -> bool:
    return package == "mlgov" and (module in SANDBOX_ONLY or module.endswith("_estate"))


class BuildPyWithoutSandbox(build_py):
    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        return [(pkg, mod, path) for pkg, mod, path in modules if not sandbox_only(pkg, mod)]

    def run(self) -> None:
        super().run()
        # build/lib outlives a build and the wheel packs all of it: drop what an older build left there.
        mlgov = Path(self.build_lib, "mlgov")
        for path in mlgov.glob("*.py"):
            if sandbox_only("mlgov", path.stem):
                path.unlink()
        for name in SANDBOX_PACKAGES:
            shutil.rmtree(mlgov / name, ignore_errors=True)


setup(cmdclass={"build_py": BuildPyWithoutSandbox})
