EXTRA_DIST += bench/exec.sh bench/trivial.c
