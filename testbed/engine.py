"""Drive the real Pulumi CLI with nothing reachable: a file backend, a passphrase, a private PULUMI_HOME.

The end-to-end tests, the benchmark and `python -m testbed try-local` all run the CLI through this, so they
run it the same way: plugins only from the test bed's bin folder (automatic acquisition off, so a missing
plugin is an error, never a download), no update check, and a project folder of its own whose code is the
repository's (symlinked) and whose virtualenv is the one running this.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What a project folder needs of the repository: the program, its packages, the project file.
PROJECT_FILES = (
    "Pulumi.yaml", "__main__.py", "requirements.txt", "components", "fuseml", "kernel", "modelstore"
)


class PulumiError(Exception):
    """A CLI command failed; carries its output."""

    def __init__(self, args: list[str], result: subprocess.CompletedProcess[str]) -> None:
        self.args, self.result = args, result
        super().__init__(
            f"pulumi {' '.join(args)} exited {result.returncode}\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )

    def summary(self) -> str:
        """The command and its first error line."""
        lines = [line.strip() for line in (self.result.stderr + self.result.stdout).splitlines()]
        errors = [line for line in lines if line.startswith("error:")]
        detail = (errors or [line for line in lines if line] or ["no output"])[0]
        return f"pulumi {' '.join(self.args)} exited {self.result.returncode}: {detail}"


def project_dir(target: Path, venv: Path | None = None) -> Path:
    """A project folder: the repository's code symlinked, `.venv` pointing at this interpreter's."""
    target.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        link = target / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    venv_link = target / ".venv"
    if not venv_link.exists():
        venv_link.symlink_to(venv or Path(sys.prefix))
    return target


@dataclass
class Engine:
    """The CLI, configured for one test bed: where state and plugins live, which cluster it talks to."""

    bin_dir: Path
    work: Path
    kubeconfig: Path | None = None
    passphrase: str = "testbed-passphrase"
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home = self.work / "pulumi-home"
        self.backend = self.work / "state"
        self.project = self.work / "project"
        for folder in (self.home, self.backend):
            folder.mkdir(parents=True, exist_ok=True)
        project_dir(self.project)

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_HOME": str(self.home),
            "PULUMI_BACKEND_URL": f"file://{self.backend}",
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            # The project folder's code imports from the repository, whatever the caller's cwd.
            "PYTHONPATH": str(self.project),
            **self.extra_env,
        }
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def run(
        self, *args: str, check: bool = True, timeout: float = 600, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `pulumi ARGS` in the project folder; raise PulumiError on failure when check is set."""
        argv = [str(self.bin_dir / "pulumi"), *args, "--non-interactive"]
        result = subprocess.run(
            argv,
            cwd=self.project,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise PulumiError(list(args), result)
        return result

    def init_stack(self, stack: str, config_file: Path | None = None) -> None:
        """Create the stack, its settings copied from config_file (a shipped Pulumi.<stack>.yaml)."""
        if config_file is not None:
            shutil.copyfile(config_file, self.project / f"Pulumi.{stack}.yaml")
        self.run("stack", "init", stack, "--secrets-provider", "passphrase")

    def set_config(
        self, stack: str, key: str, value: str, *, secret: bool = False, path: bool = False
    ) -> None:
        args = ["config", "set", "--stack", stack, key]
        if secret:
            args.append("--secret")
        if path:
            args.append("--path")
        # The value on stdin keeps it out of the process list.
        self.run(*args, input=value)
