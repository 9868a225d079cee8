/* The baseline for bench/exec.sh: a C program that reads stdin to EOF and
 * writes a short answer, i.e. the least any exec'd key provider can cost. */
#include <unistd.h>

int main(void)
{
	char buf[16384];

	while (read(0, buf, sizeof(buf)) > 0)
		;
	return write(1, "{}\n", 3) == 3 ? 0 : 1;
}
