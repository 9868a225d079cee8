# port_pair: two consecutive free TCP ports on loopback, the first even
# (swtpm's server and control ports).  Sourced by tests/tpm/lib.sh and
# bench/ocikpd.sh; needs python3.
port_pair() {
	python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randrange(20000, 60000, 2)
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass
PY
}
