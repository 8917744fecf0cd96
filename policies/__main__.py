"""Policy pack entry point: serve the FuseML serving policies to the Pulumi CLI.

Why this file does nothing else: PolicyPack(...) starts the analyzer's gRPC server and blocks forever,
so only `pulumi preview/up --policy-pack policies` may run it; all logic lives in the rules/ package. The
CLI runs this directory with runpy, which puts it on sys.path, hence the top-level `rules` import (the
package imports its modules relatively, so it loads as `rules` here and as `policies.rules` elsewhere).
The rules read shared facts (name prefix, quantities, backend status) from the project's `kernel`, so the
project root goes on sys.path first.
"""

import sys
from pathlib import Path

# resolve(): the pack folder may be a copy of links (tests link each entry), the root is where they point.
# Right after the pack's own folder, so `kernel` is the project's even if the policy venv had another.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(
    name="fuseml-serving",
    # Each policy carries its own level; this default only covers a policy that forgot to set one.
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=POLICIES,
)
