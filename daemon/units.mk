# systemd units, sysusers.d (filled in by the packaging work)
