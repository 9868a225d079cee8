/*
 * bench/spawn: run a command RUNS times with stdin from a file, and print
 * the median wall time (ms), the largest max RSS (KiB) and the mean CPU
 * time, user + system (ms), over the runs.  CPU time is the figure that
 * holds on a loaded machine, where wall times do not.
 * A small C parent keeps both figures honest: a child forked from a big
 * process (Python, bash) inherits its RSS high-water mark.
 *
 *   spawn RUNS INPUT CMD [ARG...]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int runs, i, status;
	double *t;
	long maxrss = 0;
	double cpu = 0;

	if (argc < 4 || (runs = atoi(argv[1])) < 1)
		return 2;
	t = calloc((size_t)runs, sizeof(*t));
	for (i = 0; i < runs; i++) {
		struct timespec a, b;
		struct rusage ru;
		pid_t pid;

		clock_gettime(CLOCK_MONOTONIC, &a);
		pid = fork();
		if (pid == 0) {
			int in = open(argv[2], O_RDONLY), out = open("/dev/null", O_WRONLY);
			dup2(in, 0);
			dup2(out, 1);
			execv(argv[3], argv + 3);
			_exit(127);
		}
		if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "spawn: %s failed (status %d)\n", argv[3], status);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		cpu += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
		if (ru.ru_maxrss > maxrss)
			maxrss = ru.ru_maxrss;
	}
	qsort(t, (size_t)runs, sizeof(*t), cmp);
	printf("%.3f %ld %.3f\n", t[runs / 2], maxrss, cpu / runs);
	return 0;
}
