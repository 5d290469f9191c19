"""Rule families: one folder per family (rules, family facts, fixes, runtime probes)."""
