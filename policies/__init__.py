"""FuseML serving policy pack; rules.py holds the checks, __main__.py only serves them to Pulumi."""
