"""The policy engine: rule packs from ``policies/`` evaluated into a Verdict with its reasons."""
