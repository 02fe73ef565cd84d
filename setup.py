"""The one thing pyproject.toml cannot say: ship the top-level ``policies/`` folder as the package
``gateway.policies``. Rules are data kept at the repository's top level (the design card); the
wheel maps that folder into the package instead of keeping a copy, and the code reads it through
``importlib.resources`` (gateway/datafiles.py). Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

# Data folders (templates, migrations, examples) count as packages too, so that setuptools ships
# them as the package data they are without warning about them.
_SKIP = ["*__pycache__*", "*.egg-info*"]
packages = find_namespace_packages(include=["gateway", "gateway.*"], exclude=_SKIP)
packages += ["gateway.policies", *(f"gateway.policies.{name}"
                                   for name in find_namespace_packages(where="policies", exclude=_SKIP))]

setup(packages=packages, package_dir={"gateway.policies": "policies"})
