"""Policy pack entry point: serve the FuseML serving policies to the Pulumi CLI.

Why this file does nothing else: PolicyPack(...) starts the analyzer's gRPC server and blocks forever,
so only `pulumi preview/up --policy-pack policies` may run it; all logic lives in the rules/ package. The
CLI runs this directory with runpy, which puts it on sys.path, hence the top-level `rules` import (the
package imports its modules relatively, so it loads as `rules` here and as `policies.rules` elsewhere).
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(
    name="fuseml-serving",
    # Each policy carries its own level; this default only covers a policy that forgot to set one.
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=POLICIES,
)
