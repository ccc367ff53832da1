"""Verb runners: each takes a resolved config dict (from :func:`fakedamage.config.compose_config`)."""
