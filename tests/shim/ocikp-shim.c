/*
 * An LD_PRELOAD shim for the tests: it watches one real ocikp process and
 * appends what it saw to the file named by OCIKP_SHIM_REPORT.
 *
 * Secrets (OCIKP_SHIM_SECRETS=hex,hex,...): every block handed to free(),
 * and every block realloc() moves away from, is searched for those bytes
 * before it goes back to the allocator; at exit, after every other exit
 * handler and library destructor has run, so is every writable mapping
 * (heap, stacks, data and bss of every loaded object).  A hit means key
 * material outlived its use: the report gets one "hit" line for it.
 *
 * Process state at exit, for the load test: PR_GET_DUMPABLE, the number of
 * file descriptors opened and left open (beyond 0-2 and those inherited),
 * and VmHWM.
 *
 * The shim must not hold the secrets itself where it searches, so it keeps
 * them XOR-masked in a mapping of its own and skips that mapping.  It never
 * allocates while searching: free() is where it runs.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* glibc's own entry points, so the shim needs no dlsym (which allocates). */
extern void __libc_free(void *);
extern void *__libc_realloc(void *, size_t);

#define MASK 0xa5
#define MAX_SECRETS 8
#define ARENA_SIZE 65536

struct secret {
	const unsigned char *masked;
	size_t len;
};

static struct secret secrets[MAX_SECRETS];
static size_t n_secrets;
static unsigned char *arena;	/* the masked secrets; never searched */
static const char *report_path;
static unsigned long hits;
static int busy;		/* no searching inside our own reporting */

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int fd, n;

	if (!report_path)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	fd = open(report_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0) {
		/* nothing to do: the test sees a missing line */
	}
	close(fd);
}

/* Index of the first secret found in [p, p+len), or -1. */
static int search(const unsigned char *p, size_t len, size_t *at)
{
	size_t i, k;

	for (i = 0; i < n_secrets; i++) {
		const struct secret *s = &secrets[i];
		unsigned char first = s->masked[0] ^ MASK;
		const unsigned char *q = p, *end = p + len;

		while (s->len <= (size_t)(end - q) &&
		       (q = memchr(q, first, (size_t)(end - q) - s->len + 1)) != NULL) {
			for (k = 1; k < s->len && (q[k] ^ MASK) == s->masked[k]; k++)
				;
			if (k == s->len) {
				*at = (size_t)(q - p);
				return (int)i;
			}
			q++;
		}
	}
	return -1;
}

static void check_block(void *ptr, const char *how, const void *caller)
{
	Dl_info info;
	size_t at;
	int i;

	if (!ptr || !n_secrets || busy)
		return;
	i = search(ptr, malloc_usable_size(ptr), &at);
	if (i < 0)
		return;
	busy = 1;
	hits++;
	memset(&info, 0, sizeof(info));
	dladdr(caller, &info);
	report("hit secret=%d where=%s size=%zu offset=%zu caller=%s+%#lx object=%s\n",
	       i, how, malloc_usable_size(ptr), at, info.dli_sname ? info.dli_sname : "?",
	       (unsigned long)((uintptr_t)caller - (uintptr_t)(info.dli_saddr ? info.dli_saddr
								       : info.dli_fbase)),
	       info.dli_fname ? info.dli_fname : "?");
	busy = 0;
}

void free(void *ptr)
{
	check_block(ptr, "free", __builtin_return_address(0));
	__libc_free(ptr);
}

void *realloc(void *ptr, size_t size)
{
	size_t at;
	int found = ptr && n_secrets && !busy &&
		    search(ptr, malloc_usable_size(ptr), &at) >= 0;
	void *p = __libc_realloc(ptr, size);

	/* Only a move leaves the old bytes behind in freed memory. */
	if (found && p && p != ptr) {
		busy = 1;
		hits++;
		report("hit where=realloc-move caller=%p\n", __builtin_return_address(0));
		busy = 0;
	}
	return p;
}

/* Every readable, writable mapping but the arena, from /proc/self/maps. */
static void scan_mappings(void)
{
	static char maps[1 << 17];
	size_t len = 0, at;
	ssize_t n;
	char *line, *nl;
	int fd, i;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		report("error cannot open /proc/self/maps\n");
		hits++;
		return;
	}
	while (len < sizeof(maps) - 1 && (n = read(fd, maps + len, sizeof(maps) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	maps[len] = '\0';
	for (line = maps; *line; line = nl + 1) {
		unsigned long lo, hi;
		char perms[5], name[256] = "";

		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %255s", &lo, &hi, perms, name) < 3)
			continue;
		if (perms[0] != 'r' || perms[1] != 'w')
			continue;
		if (lo == (unsigned long)(uintptr_t)arena)
			continue;
		i = search((const unsigned char *)lo, hi - lo, &at);
		if (i >= 0) {
			hits++;
			report("hit secret=%d where=exit mapping=%s offset=%#zx\n",
			       i, name[0] ? name : "anonymous", at);
		}
	}
}

/* Descriptors open when the process started (make's jobserver, the test
 * harness's): ocikp is answerable only for the others. */
static unsigned char inherited[1024];
static int left_open[8];	/* the first few counted, for the report */

static int count_fds(int mark)
{
	char buf[4096];
	long n, off;
	int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC), count = 0;

	if (fd < 0)
		return -1;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);

			int n_fd = d->d_name[0] == '.' ? -1 : atoi(d->d_name);

			if (n_fd < 0 || n_fd == fd)
				;
			else if (mark && n_fd < (int)sizeof(inherited))
				inherited[n_fd] = 1;
			else if (n_fd > 2 && !(n_fd < (int)sizeof(inherited) && inherited[n_fd])) {
				if (count < 8)
					left_open[count] = n_fd;
				count++;
			}
			off += d->d_reclen;
		}
	close(fd);
	return count;
}

static long vm_hwm_kb(void)
{
	char buf[4096], *p;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "VmHWM:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

static void at_exit(void)
{
	int fds = count_fds(0);

	busy = 1;
	if (n_secrets)
		scan_mappings();
	for (int i = 0; i < fds && i < 8; i++) {
		char link[64], target[256];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", left_open[i]);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		report("open fd=%d target=%s\n", left_open[i], target);
	}
	report("exit dumpable=%d fds=%d vmhwm_kb=%ld hits=%lu secrets=%zu\n",
	       prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), fds, vm_hwm_kb(), hits, n_secrets);
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	     : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Registered before any library the process loads can register its own
 * exit handler, and before the dynamic loader's: so it runs last. */
__attribute__((constructor))
static void shim_init(void)
{
	const char *hex = getenv("OCIKP_SHIM_SECRETS");
	size_t used = 0;

	report_path = getenv("OCIKP_SHIM_REPORT");
	if (!report_path)
		return;
	count_fds(1);
	atexit(at_exit);
	if (!hex || !*hex)
		return;
	arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED) {
		arena = NULL;
		report("error cannot map the secrets arena\n");
		return;
	}
	while (*hex && n_secrets < MAX_SECRETS) {
		struct secret *s = &secrets[n_secrets];
		unsigned char *m = arena + used;
		int hi, lo;

		s->masked = m;
		for (; (hi = hexval(hex[0])) >= 0 && (lo = hexval(hex[1])) >= 0 &&
		       used < ARENA_SIZE; hex += 2, used++)
			*m++ = (unsigned char)((hi << 4 | lo) ^ MASK);
		s->len = (size_t)(m - s->masked);
		if (s->len >= 8)	/* shorter ones would match by chance */
			n_secrets++;
		else
			report("error secret %zu shorter than 8 bytes\n", n_secrets);
		while (*hex && *hex != ',')
			hex++;
		if (*hex == ',')
			hex++;
	}
}
