/*
 * nflog_reader: the C baseline of the flood benchmark (bench/cmd/nflog-bench).
 *
 * A minimal reader on Debian's libnetfilter_log (libnetfilter-log-dev): it
 * binds one NFLOG group with the same settings as bench/cmd/nflog-consumer,
 * counts packets in the callback (summing their payload lengths and checking
 * the per-group sequence numbers), counts ENOBUFS, and exits after an idle
 * period without packets (after the first one), or on SIGTERM/SIGINT,
 * printing its counters as one JSON object on stdout. SIGUSR1 prints the
 * counters so far as a JSON line with "snapshot": true.
 *
 *   cc -O2 -o nflog_reader nflog_reader.c -lnetfilter_log
 *   nflog_reader -group 7 -threshold 64 -rcvbuf 8388608 -nlbuf 65536 \
 *                -copy-range 128 -timeout 10 -idle 1000
 *
 * It reads in the network namespace it is started in (run it with
 * "ip netns exec NAME").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libnetfilter_log/libnetfilter_log.h>

#ifndef NFULNL_CFG_F_SEQ
#define NFULNL_CFG_F_SEQ 0x0001
#endif

static volatile sig_atomic_t stop, snapshot;

static uint64_t received, overruns, lost, payload_bytes, decode_errors;
static uint32_t next_seq;
static int seq_seen;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		snapshot = 1;
	else
		stop = 1;
}

static int cb(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg,
	      struct nflog_data *nfa, void *data)
{
	char *payload;
	uint32_t seq;
	int n;

	(void)gh;
	(void)nfmsg;
	(void)data;
	received++;
	n = nflog_get_payload(nfa, &payload);
	if (n > 0)
		payload_bytes += (uint64_t)n;
	if (nflog_get_seq(nfa, &seq) == 0) {
		/* The kernel numbers from 0 for each group instance. */
		uint32_t gap = seq - next_seq;
		if (gap != 0 && gap < (1u << 31)) /* ignore reordering */
			lost += gap;
		if (!seq_seen || gap < (1u << 31))
			next_seq = seq + 1;
		seq_seen = 1;
	}
	return 0;
}

static void report(int fd, int snap)
{
	int v = 0;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &l);
	printf("{%s\"received\":%" PRIu64 ",\"overruns\":%" PRIu64 ",\"lost\":%" PRIu64
	       ",\"decode_errors\":%" PRIu64 ",\"growths\":0,\"payload_bytes\":%" PRIu64
	       ",\"rcvbuf\":%d}\n",
	       snap ? "\"snapshot\":true," : "", received, overruns, lost, decode_errors,
	       payload_bytes, v / 2);
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nflog_reader -group G [-threshold Q] [-rcvbuf BYTES] [-nlbuf BYTES]\n"
		"                    [-copy-range N] [-timeout CENTISECONDS] [-idle MS] [-max-wait MS]\n");
	exit(2);
}

static long num(const char *name, const char *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(v, &end, 0);
	if (errno != 0 || *end != '\0' || x < 0) {
		fprintf(stderr, "nflog_reader: bad value %s for %s\n", v, name);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	long group = -1, threshold = 64, rcvbuf = 0, nlbuf = 0, copy_range = 128;
	long timeout = 10, idle_ms = 1000, max_wait_ms = 60000;
	struct nflog_handle *h;
	struct nflog_g_handle *gh;
	static char buf[1 << 20] __attribute__((aligned(8)));
	struct sigaction sa;
	struct timeval tv;
	double start, last = 0;
	int fd, i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] == '-' && a[1] == '-')
			a++;
		if (i + 1 >= argc)
			usage();
		if (!strcmp(a, "-group"))
			group = num(a, argv[++i]);
		else if (!strcmp(a, "-threshold"))
			threshold = num(a, argv[++i]);
		else if (!strcmp(a, "-rcvbuf"))
			rcvbuf = num(a, argv[++i]);
		else if (!strcmp(a, "-nlbuf"))
			nlbuf = num(a, argv[++i]);
		else if (!strcmp(a, "-copy-range"))
			copy_range = num(a, argv[++i]);
		else if (!strcmp(a, "-timeout"))
			timeout = num(a, argv[++i]);
		else if (!strcmp(a, "-idle"))
			idle_ms = num(a, argv[++i]);
		else if (!strcmp(a, "-max-wait"))
			max_wait_ms = num(a, argv[++i]);
		else
			usage();
	}
	if (group < 0 || group > 65535)
		usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: recv returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	h = nflog_open();
	if (!h) {
		perror("nflog_open");
		return 1;
	}
	/* Obsolete on current kernels, harmless; as in the library's example. */
	nflog_unbind_pf(h, AF_INET);
	nflog_bind_pf(h, AF_INET);
	gh = nflog_bind_group(h, (uint16_t)group);
	if (!gh) {
		perror("nflog_bind_group");
		return 1;
	}
	if (nflog_set_mode(gh, NFULNL_COPY_PACKET, (uint32_t)copy_range) < 0) {
		perror("nflog_set_mode");
		return 1;
	}
	if (nflog_set_qthresh(gh, (uint32_t)threshold) < 0) {
		perror("nflog_set_qthresh");
		return 1;
	}
	if (nflog_set_timeout(gh, (uint32_t)timeout) < 0) {
		perror("nflog_set_timeout");
		return 1;
	}
	if (nlbuf > 0 && nflog_set_nlbufsiz(gh, (uint32_t)nlbuf) < 0) {
		perror("nflog_set_nlbufsiz");
		return 1;
	}
	if (nflog_set_flags(gh, NFULNL_CFG_F_SEQ) < 0) {
		perror("nflog_set_flags");
		return 1;
	}
	nflog_callback_register(gh, cb, NULL);

	fd = nflog_fd(h);
	if (rcvbuf > 0) {
		int v = (int)rcvbuf;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0) {
			perror("setsockopt SO_RCVBUF");
			return 1;
		}
	}
	/* Wake up every 100 ms to check the idle and stop conditions. */
	tv.tv_sec = 0;
	tv.tv_usec = 100000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	start = now_s();
	while (!stop) {
		ssize_t n;

		if (snapshot) {
			snapshot = 0;
			report(fd, 1);
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			uint64_t before = received;
			if (nflog_handle_packet(h, buf, (int)n) < 0 && received == before)
				decode_errors++;
			if (received != before)
				last = now_s();
			continue;
		}
		if (n < 0 && errno == ENOBUFS) {
			overruns++;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			perror("recv");
			break;
		}
		/* Timeout or signal. */
		if (received > 0 && (now_s() - last) * 1000 >= (double)idle_ms)
			break;
		if (received == 0 && (now_s() - start) * 1000 >= (double)max_wait_ms)
			break;
	}

	report(fd, 0);
	nflog_unbind_group(gh);
	nflog_close(h);
	return 0;
}
