"""Optional inference/learning engines besides the native torch one (pracmln, the reference)."""
