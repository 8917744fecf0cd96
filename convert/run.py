"""One conversion: detect, download, digest, skip or convert, check, publish `<output>/<version>/`.

Idempotence: every published version folder holds `fuseml-convert.json` with the digest of the source
files and of the settings that shape the IR. A run whose digest a version already has writes nothing and
names that version; otherwise it writes the next free version, so OVMS (which serves the highest version
by default, model_version_policy "latest") moves to it, and the older one stays for a rollback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from convert.formats import NO_IR
from convert.inputs import ConvertInputs
from kernel.errors import StepError, StepInputError
from modelstore import Detected, Store, StoreError, detect_in, open_store, settings_from_env

METADATA = "fuseml-convert.json"
_VERSION = re.compile(r"\d+")


@dataclass(frozen=True)
class Outcome:
    """What a run did: the model URL for OVMS (the step's output), the version, and whether it wrote."""

    model_url: str
    version: int
    written: bool


def run(
    inputs: ConvertInputs,
    env: Mapping[str, str],
    say: Callable[[str], None],
    detail: Callable[[str], None] = lambda line: None,
) -> Outcome:
    """Convert inputs.input_model into inputs.output_model; StepInputError/StoreError for bad input.

    `say` gets the lines every run prints, `detail` the ones FUSEML_VERBOSE adds.
    """
    settings = settings_from_env(env)

    def store(url: str) -> Store:
        return open_store(url, settings)

    with naming("FUSEML_INPUT_MODEL"):
        src = store(inputs.input_model)
    with naming("FUSEML_OUTPUT_MODEL"):
        out = store(inputs.output_model)
    inner = _inside(inputs.output_model, inputs.input_model)
    with naming("FUSEML_INPUT_MODEL"):
        detected = _detect(src, inputs.input_format, inner)
    say(f"source: {detected.format} ({detected.evidence})")
    with naming("FUSEML_OUTPUT_MODEL"):
        existing = _versions(out)
    with tempfile.TemporaryDirectory(prefix="fuseml-convert-") as scratch_name:
        scratch = Path(scratch_name)
        source = scratch / "source"
        with naming("FUSEML_INPUT_MODEL"):
            fetched = src.fetch(source, [f for f in detected.files if _part_of(f, detected)])
        detail(f"read {len(fetched)} files of {src.url}: {', '.join(fetched)}")
        samples = None
        if inputs.precision == "INT8":
            from convert.quantize import read_samples

            samples = read_samples(
                store, inputs.calibration_data, inputs.calibration_labels, scratch / "calibration"
            )
        digest = source_digest(source, inputs, detected, samples.digest_files if samples else ())
        detail(f"source digest {digest}; versions already in {out.url}: {sorted(existing) or 'none'}")
        for version, meta in sorted(existing.items()):
            if meta.get("source_digest") == digest:
                say(
                    f"nothing to do: {out.child(str(version))} already holds the IR of this source "
                    f"({digest[:19]}); nothing written"
                )
                return Outcome(out.url, version, False)
        version = _choose_version(inputs.version, existing, out)
        # Imported here, so bad input above is reported without paying for loading OpenVINO.
        from convert import ir

        model = ir.load(
            detected.format, source, detected.artifact, detected.mlmodel, inputs.shape, inputs.batch
        )
        ir.shape(model, inputs.shape, inputs.batch, inputs.layout)
        say(f"inputs: {ir.describe(model)}")
        meta: dict = {}
        if inputs.precision == "INT8":
            from convert.quantize import quantize

            model, report = quantize(model, samples, inputs.calibration_size, inputs.accuracy_margin)
            say(report.line(inputs.accuracy_margin))
            meta["int8"] = {
                "calibration_samples": report.calibrated,
                "fp32_accuracy": report.fp32_accuracy,
                "int8_accuracy": report.int8_accuracy,
                "accuracy_margin": inputs.accuracy_margin,
            }
        folder = scratch / "ir"
        ir.save(model, folder, inputs.precision)
        outputs = ir.smoke(folder)
        say(f"IR loads and runs on CPU: outputs {', '.join(outputs)}")
        import openvino

        meta.update(
            source=inputs.input_model,
            source_format=detected.format,
            source_digest=digest,
            precision=inputs.precision,
            openvino=openvino.get_version(),
            converted_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        (folder / METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        # model.xml after model.bin, the metadata last: a version folder is complete once METADATA is there.
        _publish(out, folder, version, (ir.BIN, ir.XML, METADATA))
        say(f"published {out.child(str(version))}: {ir.XML}, {ir.BIN} ({inputs.precision})")
        return Outcome(out.url, version, True)


@contextlib.contextmanager
def naming(name: str) -> Iterator[None]:
    """A store failure inside, as bad input naming the step input whose URL it is."""
    try:
        yield
    except StoreError as err:
        raise StepInputError(f"{name}: {err}") from None


def _publish(out: Store, folder: Path, version: int, order: tuple[str, ...]) -> None:
    """Publish the IR; a failure says truly whether anything reached `<version>/` (exit 1) or not (2)."""
    try:
        out.publish(folder, str(version), order=order)
    except StoreError as err:
        try:
            left = [name for name in out.list() if name.startswith(f"{version}/")]
        except StoreError:
            left = ["(unknown: the output cannot be listed)"]
        if not left:
            raise StepInputError(f"FUSEML_OUTPUT_MODEL: {err}; nothing written") from None
        raise ConvertFailed(
            f"FUSEML_OUTPUT_MODEL: publishing {out.child(str(version))} failed after {', '.join(left)} "
            f"reached it ({err}); without {METADATA} that version is incomplete: delete it and rerun"
        ) from None


class ConvertFailed(StepError):
    """The conversion ran but its outcome could not be completed (exit 1)."""


def _detect(src: Store, fmt: str, inner: str) -> Detected:
    """What the source holds; with a format given, only where its model file is (the given format wins)."""
    # No hint: the converter needs the files whatever the format, so naming it would not help.
    detected = detect_in(src, hint=None, exclude=inner)
    chosen = detected.format if fmt == "auto" else fmt
    if chosen in NO_IR:
        # Refused before anything is downloaded: no setting makes an IR of these.
        raise StepInputError(f"FUSEML_INPUT_FORMAT: {NO_IR[chosen]} (found {detected.evidence})")
    if fmt == "auto" or fmt == detected.format:
        return detected
    return Detected(
        fmt,
        f"FUSEML_INPUT_FORMAT={fmt} (detected {detected.format})",
        detected.artifact,
        detected.files,
        detected.mlmodel,
    )


def _part_of(name: str, detected: Detected) -> bool:
    """Whether a file is needed to convert: the artifact (an IR's .bin too), the MLmodel, pytorch's code/."""
    art = detected.artifact
    if not art or name == art or name.startswith(f"{art}/") or name == "MLmodel":
        return True
    if detected.format == "openvino" and art.endswith(".xml"):
        return name == f"{art[:-4]}.bin"
    return detected.format == "pytorch" and name.startswith("code/")


def source_digest(
    folder: Path, inputs: ConvertInputs, detected: Detected, extra: tuple[tuple[str, Path], ...] = ()
) -> str:
    """sha256 over the source files (relative names and contents), the calibration files and every setting
    that changes the IR; the store URLs themselves are left out, so a copied model is still the same."""
    digest = hashlib.sha256()
    settings = {
        "format": detected.format,
        "artifact": detected.artifact,
        "precision": inputs.precision,
        "batch": inputs.batch,
        "shape": inputs.shape,
        "layout": inputs.layout,
    }
    if inputs.precision == "INT8":
        settings.update(size=inputs.calibration_size, margin=inputs.accuracy_margin)
    digest.update(json.dumps(settings, sort_keys=True).encode())
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    named = [(p.relative_to(folder).as_posix(), p) for p in files]
    named += [(f"calibration:{i}", path) for i, (_, path) in enumerate(extra)]
    for name, path in named:
        digest.update(f"\0{name}\0".encode())
        with path.open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def _versions(out: Store) -> dict[int, dict]:
    """Existing version folders of the output and their metadata ({} when a folder has none)."""
    found: dict[int, dict] = {}
    for name in out.list():
        folder, _, base = name.partition("/")
        if not _VERSION.fullmatch(folder):
            continue
        found.setdefault(int(folder), {})
        if base == METADATA:
            try:
                found[int(folder)] = json.loads(out.read(name))
            except ValueError:
                found[int(folder)] = {}
    return found


def _choose_version(wanted: int | None, existing: Mapping[int, dict], out: Store) -> int:
    if wanted is None:
        return max(existing, default=0) + 1
    if wanted in existing:
        raise StepInputError(
            f"FUSEML_MODEL_VERSION: {out.child(str(wanted))} already holds another model; allowed: a free "
            f"version, or leave it empty for the next one ({max(existing) + 1})"
        )
    return wanted


def _inside(output: str, source: str) -> str:
    """The output's path relative to the source when it lies inside it (FuseML's `<model>/ovms`), else ""."""
    out, src = output.rstrip("/"), source.rstrip("/")
    return out[len(src) + 1 :] if out.startswith(f"{src}/") else ""
