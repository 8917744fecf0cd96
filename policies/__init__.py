"""FuseML serving policy pack: rules/ holds the checks by subject, __main__.py only serves them to Pulumi."""
