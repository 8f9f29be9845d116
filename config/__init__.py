"""Settings, rule packs and monitoring provisioning."""
