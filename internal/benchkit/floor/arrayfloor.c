/*
 * arrayfloor: the floor for NPY array round trips, a plain blocking recv
 * and send of the same bytes. For each connection, one array after another,
 * it reads the NPY preamble and header, works out the data's size from the
 * header's descr and shape, receives the data into one buffer and sends
 * header and data back with a blocking writev. The buffer is allocated for
 * the largest array so far and reused, so that what the floor pays per array
 * is the copies in and out of the kernel and nothing else: no allocation,
 * no page faults after the first array, no parsing beyond the size.
 *
 * It sizes the arrays the benchmark sends (1-d, a numeric dtype such as |u1
 * or <f8) and any other shape tuple; a header it cannot size closes the
 * connection. It serves one array at a time: a connection is served to the
 * end of its array before anything else, stdin included.
 *
 * It speaks the benchmark's child protocol as floor.c does: prints
 * "listening ADDR:PORT" on stdout, answers each "stats" line on stdin with
 * "stats cpu_us=N mallocs=0", and exits when stdin closes.
 *
 * Usage: arrayfloor [ADDR]   (listens on ADDR:0, default 127.0.0.1)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAXCONN 64
#define MAXHEADER (64 << 10)      /* the Go service's default */
#define MAXDATA (1LL << 30)       /* the benchmark child's --max-array */

static char hdr[12 + MAXHEADER + 1]; /* preamble, dict and a NUL for parsing */
static char *data;                   /* the array, reused */
static size_t datacap;

static void stats(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long long us = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
		       (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
	printf("stats cpu_us=%lld mallocs=0\n", us);
	fflush(stdout);
}

/* recvall reads exactly n bytes; 1 if the peer closed before the first, -1
 * on an error or a close part-way. */
static int recvall(int fd, char *p, size_t n) {
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, p + got, n - got, MSG_WAITALL);
		if (r < 0 && errno == EINTR) continue;
		if (r == 0 && got == 0) return 1;
		if (r <= 0) return -1;
		got += r;
	}
	return 0;
}

/* npysize is the data size the NPY dict (NUL-terminated) declares: the
 * digits of the descr ('<f8': 8) times the shape's product, or -1. */
static long long npysize(const char *dict) {
	const char *d = strstr(dict, "'descr'"), *s = strstr(dict, "'shape'");
	if (!d || !s || !(d = strchr(d + 7, '\'')) || !(s = strchr(s + 7, '('))) return -1;
	for (d++; *d && *d != '\'' && (*d < '0' || *d > '9'); d++) {
	}
	long long n = strtoll(d, NULL, 10); /* the item size; 0 if no digits */
	if (n <= 0) return -1;
	for (s++;;) {
		while (*s == ' ' || *s == ',') s++;
		if (*s == ')') return n;
		char *end;
		long long dim = strtoll(s, &end, 10);
		if (end == s || dim < 0) return -1;
		if (dim > 0 && n > MAXDATA / dim) return -1;
		n *= dim;
		s = end;
	}
}

/* serve round-trips one array on fd: 0 when done, 1 when the client closed
 * between arrays, -1 on an error. */
static int serve(int fd) {
	int r = recvall(fd, hdr, 8);
	if (r != 0) return r;
	if (memcmp(hdr, "\x93NUMPY", 6) != 0) return -1;
	size_t pre = hdr[6] == 1 ? 10 : 12; /* version 1 has a 2-byte length, 2 and 3 a 4-byte one */
	if (recvall(fd, hdr + 8, pre - 8) != 0) return -1;
	const unsigned char *u = (const unsigned char *)hdr + 8;
	size_t hlen = u[0] | (size_t)u[1] << 8;
	if (pre == 12) hlen |= (size_t)u[2] << 16 | (size_t)u[3] << 24;
	if (hlen > MAXHEADER || recvall(fd, hdr + pre, hlen) != 0) return -1;
	hdr[pre + hlen] = 0;
	long long size = npysize(hdr + pre);
	if (size < 0 || size > MAXDATA) return -1;
	if ((size_t)size > datacap) {
		free(data);
		if (!(data = malloc(size))) {
			datacap = 0;
			return -1;
		}
		datacap = size;
	}
	if (size > 0 && recvall(fd, data, size) != 0) return -1;
	struct iovec iov[2] = {{hdr, pre + hlen}, {data, (size_t)size}}, *v = iov;
	for (int cnt = 2; cnt > 0;) {
		ssize_t w = writev(fd, v, cnt);
		if (w < 0 && errno == EINTR) continue;
		if (w < 0) return -1;
		for (; cnt > 0 && (size_t)w >= v->iov_len; v++, cnt--) w -= v->iov_len;
		if (cnt > 0) v->iov_base = (char *)v->iov_base + w, v->iov_len -= w;
	}
	return 0;
}

int main(int argc, char **argv) {
	const char *host = argc > 1 ? argv[1] : "127.0.0.1";
	signal(SIGPIPE, SIG_IGN); /* a reset peer must not kill the floor */
	int ln = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;
	int one = 1;
	if (ln < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) return 1;
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ln, (struct sockaddr *)&sa, sizeof sa) || listen(ln, 64) ||
	    getsockname(ln, (struct sockaddr *)&sa, &sl)) {
		perror("arrayfloor: listen");
		return 1;
	}
	printf("listening %s:%d\n", host, ntohs(sa.sin_port));
	fflush(stdout);

	struct pollfd pfd[2 + MAXCONN] = {{.fd = 0, .events = POLLIN}, {.fd = ln, .events = POLLIN}};
	int npfd = 2;
	char line[64];
	size_t linelen = 0;
	for (;;) {
		int n = poll(pfd, npfd, -1);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return 1;
		if (pfd[0].revents) {
			ssize_t r = read(0, line + linelen, sizeof line - linelen);
			if (r <= 0) return 0; /* the parent is gone: stop */
			linelen += r;
			char *nl;
			while ((nl = memchr(line, '\n', linelen)) != NULL) {
				if (strncmp(line, "stats", 5) == 0) stats();
				linelen -= nl + 1 - line;
				memmove(line, nl + 1, linelen);
			}
			if (linelen == sizeof line) linelen = 0;
		}
		for (int i = 2; i < npfd; i++) {
			if (!pfd[i].revents) continue;
			if (serve(pfd[i].fd) != 0) {
				close(pfd[i].fd);
				pfd[i--] = pfd[--npfd];
			}
		}
		if (pfd[1].revents) {
			int c;
			/* The connections are blocking: every recv and send waits. */
			while (npfd < 2 + MAXCONN && (c = accept4(ln, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
				pfd[npfd++] = (struct pollfd){.fd = c, .events = POLLIN};
			}
		}
		pfd[1].events = npfd < 2 + MAXCONN ? POLLIN : 0; /* full: accept later */
	}
}
