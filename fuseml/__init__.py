"""FuseML integration: a REST client for the application store and the Pulumi dynamic provider."""
