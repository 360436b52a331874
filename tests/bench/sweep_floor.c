/* The floor of a stats sweep: the files one sweep reads (one path a line on stdin),
 * opened once, then read ROUNDS times with one pread() each, as the sampler does.
 * Prints the median time of a round in milliseconds. Usage: sweep_floor ROUNDS < paths
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 30;
    static int fds[1 << 16];
    static char buf[1 << 16], line[4096];
    int n = 0;
    while (n < (int)(sizeof fds / sizeof *fds) && fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        int fd = open(line, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) fds[n++] = fd;
    }
    if (rounds < 1 || n == 0) return 2;
    double *ms = calloc(rounds, sizeof *ms);
    for (int r = 0; r < rounds; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < n; i++) pread(fds[i], buf, sizeof buf, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms[r] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    }
    qsort(ms, rounds, sizeof *ms, by_value);
    printf("%d %.3f\n", n, ms[rounds / 2]);
    return 0;
}
