/*
 * probe: the fairness row's small request. One blocking TCP connection
 * echoes a SIZE-byte message every millisecond (or as soon as the last one
 * is back, if that took longer) and reports each round trip. Paced, it
 * stands for small requests arriving beside bulk peers, and leaves the CPU
 * it shares with their load generator to them: unpaced, its own system
 * calls took half of that CPU here.
 *
 * It is a C process of its own, at real-time priority where the system
 * allows it, so that what it times is the server's turn order: a probe on
 * the load generator's Go loop, or a Go thread blocked in read(2), would
 * add the load generator's scheduling (Go's monitor thread polls a blocked
 * system call every 20 us) to every round trip. The thread spends nearly
 * all its time blocked in read(2), so SCHED_FIFO starves nothing.
 *
 * Output on stdout: one line "probing realtime" or "probing normal" once
 * connected, then the round trips in microseconds as native-endian uint32
 * values, written in batches of up to 256 or every 10 ms. It exits when
 * stdout closes or the connection fails.
 *
 * Usage: probe HOST PORT SIZE
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* full runs f (read or write) until all of n bytes moved; 0 on success. */
static int full(ssize_t (*f)(int, void *, size_t), int fd, char *p, size_t n) {
	while (n > 0) {
		ssize_t k = f(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static ssize_t wr(int fd, void *p, size_t n) { return write(fd, p, n); }

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: probe HOST PORT SIZE\n");
		return 2;
	}
	size_t size = (size_t)atol(argv[3]);
	if (size == 0) {
		fprintf(stderr, "probe: bad size %s\n", argv[3]);
		return 2;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	int rc = getaddrinfo(argv[1], argv[2], &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "probe: %s %s: %s\n", argv[1], argv[2], gai_strerror(rc));
		return 1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("probe: connect");
		return 1;
	}
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	const char *prio = "normal";
#ifdef __linux__
	struct sched_param sp = {.sched_priority = 1};
	if (sched_setscheduler(0, SCHED_FIFO, &sp) == 0)
		prio = "realtime";
#endif
	printf("probing %s\n", prio);
	fflush(stdout);

	char *msg = malloc(size), *reply = malloc(size);
	for (size_t i = 0; i < size; i++)
		msg[i] = (char)('a' + i % 26);
	uint32_t batch[256];
	int nb = 0;
	int64_t flushed = now_us(), due = flushed;
	for (;;) {
		int64_t t0 = now_us();
		if (t0 < due) {
			struct timespec d = {0, (long)(due - t0) * 1000};
			while (nanosleep(&d, &d) < 0 && errno == EINTR)
				;
			t0 = now_us();
		}
		due = t0 + 1000;
		if (full(wr, fd, msg, size) < 0 || full(read, fd, reply, size) < 0) {
			perror("probe: round trip");
			return 1;
		}
		int64_t t1 = now_us();
		batch[nb++] = (uint32_t)(t1 - t0);
		if (nb == 256 || t1 - flushed >= 10000) {
			if (full(wr, 1, (char *)batch, (size_t)nb * sizeof batch[0]) < 0)
				return 0; /* the parent is done with us */
			nb = 0;
			flushed = t1;
		}
	}
}
