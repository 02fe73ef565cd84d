"""Rule packs (``*.toml``, ``examples/``) and bounce wording (``bounces/``) as data.

Installed as the package ``gateway.policies`` (see setup.py), so an installed gateway reads them
through ``importlib.resources``; this file only makes the folder a package. No code lives here.
"""
