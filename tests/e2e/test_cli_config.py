"""Every shipped Pulumi.<stack>.yaml passes the real CLI's own config validation and reaches the program.

The CLI checks a stack's settings against Pulumi.yaml's declarations before it starts the program
(pkg/v3 workspace/config.go): keys declared without a default are required, typed keys are type-checked,
secret keys must be encrypted. A stack that passes gets its program run; so each stack's preview must show
the program registering its first resources, and none of the CLI's config errors.
"""

from __future__ import annotations

import pytest
import yaml

from offline.plan import stack_file
from testbed.engine import Engine
from tests.stackfiles import shipped

pytestmark = pytest.mark.timeout(300)

#: The CLI's config-validation messages (pkg/v3 workspace/config.go).
CLI_CONFIG_ERRORS = ("is missing configuration", "must be of type", "must be encrypted as it's secret")
#: Secrets a shipped stack's comment tells the user to set before the first `pulumi up`.
USER_SECRETS = {
    "dev": {"aws_access_key_id": "AKIAE2EDEVKEY0000001", "aws_secret_access_key": "dev-secret-value-0001"},
    "tutorial": {"aws_access_key_id": "AKIAE2ETUTKEY0000001", "aws_secret_access_key": "tut-secret-0001"},
}
#: The first resource each stack's program registers: the proof that the program ran.
FIRST_RESOURCE = {
    "dev": "pulumi:providers:gcp",
    "local": "pulumi:providers:kubernetes",
    "tutorial": "pulumi:providers:kubernetes",
}


def preview(engine: Engine, stack: str) -> str:
    result = engine.run("preview", "--stack", stack, check=False, timeout=240)
    return result.stdout + result.stderr


@pytest.mark.parametrize("stack", shipped())
def test_shipped_stack_passes_the_cli_config_validation(engine: Engine, stack: str) -> None:
    engine.init_stack(stack, stack_file(stack))
    for key, value in USER_SECRETS.get(stack, {}).items():
        engine.set_config(stack, f"fuseml-serving:{key}", value, secret=True)
    output = preview(engine, stack)
    assert not [message for message in CLI_CONFIG_ERRORS if message in output], output
    assert "error: invalid stack config" not in output, output
    assert FIRST_RESOURCE[stack] in output, output


def test_the_check_sees_a_stack_the_cli_refuses(engine: Engine) -> None:
    # The same check on a stack whose models key is not a list: the CLI stops before the program.
    engine.run("stack", "init", "broken", "--secrets-provider", "passphrase")
    (engine.project / "Pulumi.broken.yaml").write_text("config:\n  fuseml-serving:models: not-a-list\n")
    output = preview(engine, "broken")
    assert "Stack 'broken' with configuration key 'fuseml-serving:models' must be of type" in output, output
    assert "pulumi:providers:kubernetes" not in output


def test_a_misspelt_key_stops_the_program_before_any_resource(engine: Engine) -> None:
    engine.init_stack("local", stack_file("local"))
    settings = engine.project / "Pulumi.local.yaml"
    document = yaml.safe_load(settings.read_text())
    document["config"]["fuseml-serving:namepsace"] = "serving"
    settings.write_text(yaml.safe_dump(document))
    output = preview(engine, "local")
    assert "fuseml-serving:namepsace: got 'serving'" in output, output
    assert "(did you mean namespace?)" in output
    assert "Traceback" not in output, output
    assert "pulumi:providers:kubernetes" not in output
