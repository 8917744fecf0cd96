"""The facts every entry point shares, on the standard library alone.

Why a kernel: the Pulumi program, the workflow step, the converter (in its own environment, without
pulumi) and the policy pack (in the CLI's policy virtualenv) must agree on names, limits, quantities,
credentials, redaction and error shapes. Each fact is stated once here, and nothing here imports a
third-party package, so every one of them can import it.
"""
