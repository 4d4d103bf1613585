"""cooplog: an append-only, auditable log of an organization's cooperation work."""
