"""The one redactor (kernel/redact.py): known values in every form and case, credential shapes, data, URLs."""

from __future__ import annotations

import re

from kernel.credentials import SECRET_ENV_NAMES
from kernel.redact import MASK, TOKEN_LIKE, Redactor


def test_known_values_are_masked_whatever_their_case() -> None:
    redact = Redactor(["Tok-SECRET-5f3a"])
    assert redact("a tok-secret-5f3a b TOK-SECRET-5F3A c") == f"a {MASK} b {MASK} c"


def test_overlapping_values_become_one_mask_leaving_no_part_visible() -> None:
    # "abc" starts first, "bcdef" ends last: masking either alone would show part of the other.
    redact = Redactor(["abc", "bcdef"])
    assert redact("x abcdef y") == f"x {MASK} y"


def test_a_value_inside_the_mask_text_does_not_mask_the_mask() -> None:
    redact = Redactor(["secret-value", "secret"])
    assert redact("secret-value and secret") == f"{MASK} and {MASK}"


def test_short_values_and_short_lines_are_left_alone_below_the_floor() -> None:
    redact = Redactor(["ab", "prod", '{\n  "k": "longer-line-value"\n}'], min_length=4)
    assert redact("ab prod {") == f"ab {MASK} {{"
    assert redact('"k": "longer-line-value"') == MASK


def test_patterns_keep_their_keep_group_and_mask_the_rest() -> None:
    redact = Redactor(mask="***", patterns=TOKEN_LIKE)
    assert redact("sent Bearer abc.def") == "sent Bearer ***"
    assert redact('{"password": "hunter2"}') == '{"password": "***"}'
    whole = Redactor(mask="[x]", patterns=[re.compile(r"AKIA[0-9A-Z]{16}")])
    assert whole("key AKIAABCDEFGHIJKLMNOP.") == "key [x]."


def test_data_masks_every_string_leaf_and_key_and_keeps_the_rest() -> None:
    redact = Redactor(["hunter22"], mask="[c]")
    data = {"hunter22": ["x hunter22", 3, None, {"k": "HUNTER22"}], "n": 1.5}
    assert redact.data(data) == {"[c]": ["x [c]", 3, None, {"k": "[c]"}], "n": 1.5}


def test_url_drops_user_info_and_masks_the_rest() -> None:
    redact = Redactor(["tok-123456"], mask="***", patterns=TOKEN_LIKE)
    assert redact.url("https://me:pw@host.example:8443/a/tok-123456?api_key=z") == (
        "https://host.example:8443/a/***?api_key=***"
    )


def test_values_learnt_later_are_masked_too() -> None:
    redact = Redactor()
    assert redact("passphrase pass-phrase-1") == "passphrase pass-phrase-1"
    redact.add("pass-phrase-1", None, "")
    assert redact("passphrase pass-phrase-1") == f"passphrase {MASK}"


def test_from_env_reads_every_secret_variable_of_the_vocabulary() -> None:
    env = {name: f"value-of-{name.lower()}" for name in SECRET_ENV_NAMES}
    redact = Redactor.from_env({**env, "HOME": "/home/step"}, mask="[m]")
    assert redact(" ".join([*env.values(), "/home/step"])) == " ".join(["[m]"] * len(env) + ["/home/step"])


def test_lines_can_be_left_to_the_whole_value() -> None:
    kubeconfig = "clusters:\n- cluster:\n    server: https://10.0.0.1\n"
    whole = Redactor([kubeconfig], lines=False)
    assert whole("gcp:container/cluster:Cluster") == "gcp:container/cluster:Cluster"
    assert whole(kubeconfig) == f"{MASK}\n"
    assert Redactor([kubeconfig])("- cluster: x") == f"{MASK} x"
