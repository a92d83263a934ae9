"""airlock's own checkov checks, loaded with --external-checks-dir. Ids are airlock.<area>.<name>."""
