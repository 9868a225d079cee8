# filled in by the tpm backend
