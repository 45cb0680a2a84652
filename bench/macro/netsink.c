/* netsink.c - the network macrobenchmark's receiver inside the Debian
 * guest (bench/macro, static i386, started by run.sh): listens on TCP PORT
 * and, for each connection in turn, reads until the sender shuts its side
 * down, then replies "bytes=N\n" and closes.  popek-bench sends a fixed
 * amount through hostfwd and times connect .. reply on the host.
 *   netsink PORT */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: netsink PORT\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[1]));
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 4) < 0) {
        perror("netsink");
        return 1;
    }
    static char buf[1 << 16];
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        unsigned long long total = 0;
        ssize_t n;
        while ((n = read(c, buf, sizeof(buf))) > 0)
            total += (unsigned long long)n;
        int len = snprintf(buf, sizeof(buf), "bytes=%llu\n", total);
        if (write(c, buf, (size_t)len) != len)
            perror("netsink: write");
        close(c);
    }
}
