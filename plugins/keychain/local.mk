# filled in by the keychain backend
