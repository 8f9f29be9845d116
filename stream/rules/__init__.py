"""Tag rules as configuration: a TOML rule pack compiled into a `RuleSet`."""
