"""Open Badges 3.0 / Verifiable Credentials 2.0: build, sign, verify, revoke and bake credentials."""
