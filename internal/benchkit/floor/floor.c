/*
 * floor: the smallest single-threaded epoll echo server, the machine's floor
 * for "server CPU per request". No runtime, no framework: level-triggered
 * epoll, one read and one write per event.
 *
 * In time mode it is the floor for connection churn instead: the TCP time
 * service (RFC 868) with nothing but accept4, one write of the 4 bytes and
 * close. The close sends the FIN after them (there is no unread input to
 * turn it into an RST), so no connection is ever registered with epoll.
 *
 * It speaks the benchmark's child protocol: prints "listening ADDR:PORT" on
 * stdout, answers each "stats" line on stdin with
 * "stats cpu_us=N mallocs=0", each "gc" line with "gc heap_bytes=0", and exits
 * when stdin closes.
 *
 * Usage: floor [ADDR [echo|time]]   (listens on ADDR:0, default 127.0.0.1, echo)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static void stats(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long long us = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
		       (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
	printf("stats cpu_us=%lld mallocs=0\n", us);
	fflush(stdout);
}

/* rfc868 writes the seconds since 1900 in network byte order. */
static void rfc868(unsigned char out[4]) {
	uint32_t t = (uint32_t)((unsigned long long)time(NULL) + 2208988800ULL);
	out[0] = t >> 24, out[1] = t >> 16, out[2] = t >> 8, out[3] = t;
}

int main(int argc, char **argv) {
	const char *host = argc > 1 ? argv[1] : "127.0.0.1";
	int timemode = argc > 2 && strcmp(argv[2], "time") == 0;
	if (argc > 2 && !timemode && strcmp(argv[2], "echo") != 0) {
		fprintf(stderr, "floor: unknown mode %s\n", argv[2]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a reset peer must not kill the floor */
	int ln = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;
	int one = 1;
	if (ln < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) return 1;
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ln, (struct sockaddr *)&sa, sizeof sa) || listen(ln, 4096) ||
	    getsockname(ln, (struct sockaddr *)&sa, &sl)) {
		perror("floor: listen");
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ln};
	epoll_ctl(ep, EPOLL_CTL_ADD, ln, &ev);
	ev.data.fd = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	printf("listening %s:%d\n", host, ntohs(sa.sin_port));
	fflush(stdout);

	struct epoll_event evs[256];
	char line[64];
	size_t linelen = 0;
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return 1;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ln) {
				int c;
				while ((c = accept4(ln, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					if (timemode) {
						unsigned char t[4];
						rfc868(t);
						/* A new socket's buffer takes 4 bytes at once; a
						 * failed write means the client has gone already. */
						ssize_t w = write(c, t, sizeof t);
						(void)w;
						close(c);
						continue;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
				}
			} else if (fd == 0) {
				ssize_t r = read(0, line + linelen, sizeof line - linelen);
				if (r <= 0) return 0; /* the parent is gone: stop */
				linelen += r;
				char *nl;
				while ((nl = memchr(line, '\n', linelen)) != NULL) {
					if (strncmp(line, "stats", 5) == 0) stats();
					/* The idle rows' "gc": the floor has no heap to
					 * collect, and its RSS is what it is. */
					else if (strncmp(line, "gc", 2) == 0) {
						printf("gc heap_bytes=0\n");
						fflush(stdout);
					}
					linelen -= nl + 1 - line;
					memmove(line, nl + 1, linelen);
				}
				if (linelen == sizeof line) linelen = 0;
			} else {
				ssize_t r = read(fd, buf, sizeof buf);
				if (r <= 0) {
					if (r < 0 && errno == EAGAIN) continue;
					close(fd);
					continue;
				}
				for (ssize_t off = 0; off < r;) { /* a ping-pong reply always fits */
					ssize_t w = write(fd, buf + off, r - off);
					if (w < 0 && errno == EAGAIN) continue;
					if (w < 0) { close(fd); break; }
					off += w;
				}
			}
		}
	}
}
