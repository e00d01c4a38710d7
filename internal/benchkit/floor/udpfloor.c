/*
 * udpfloor: the smallest single-threaded UDP echo server, the machine's
 * floor for "server CPU per datagram". No runtime, no framework: poll() on
 * the socket and stdin, then one recvfrom and one sendto per datagram until
 * the socket is drained.
 *
 * It speaks the benchmark's child protocol, as floor.c does: prints
 * "listening ADDR:PORT" on stdout, answers each "stats" line on stdin with
 * "stats cpu_us=N mallocs=0", and exits when stdin closes.
 *
 * Usage: udpfloor [ADDR]   (binds ADDR:0, default 127.0.0.1)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

int main(int argc, char **argv) {
	const char *host = argc > 1 ? argv[1] : "127.0.0.1";
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;
	if (s < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) return 1;
	if (bind(s, (struct sockaddr *)&sa, sizeof sa) || getsockname(s, (struct sockaddr *)&sa, &sl)) {
		perror("udpfloor: bind");
		return 1;
	}
	printf("listening %s:%d\n", host, ntohs(sa.sin_port));
	fflush(stdout);

	struct pollfd fds[2] = {{.fd = s, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
	char line[64];
	size_t linelen = 0;
	for (;;) {
		int n = poll(fds, 2, -1);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return 1;
		if (fds[0].revents) {
			for (;;) {
				struct sockaddr_in from;
				socklen_t fl = sizeof from;
				ssize_t r = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
				if (r < 0) break; /* EAGAIN: drained; anything else is about one datagram */
				/* A full send buffer drops the echo, as the network would. */
				sendto(s, buf, r, 0, (struct sockaddr *)&from, fl);
			}
		}
		if (fds[1].revents) {
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
	}
}
