"""Tests of the policy rules: test_<subject>.py per module of policies/rules/, sharing builders.py."""
