// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * guest-traffic: runs inside vringmed's s390x test guest (tools/guest/init)
 * and sends Ethernet frames whose every byte can be checked when they come
 * back.  dpdk-testpmd in io-forward mode returns each frame unchanged, so
 * the frames this program receives are its own:
 *
 *   guest-traffic [-p PHASE] [-w WINDOW] [-t TIMEOUT_MS] IFACE SECONDS
 *
 * Frames go to a fixed, locally administered MAC with a private ethertype
 * (IEEE 802 local experimental, 0x88b5), their sizes cycling over 60..1514
 * bytes.  Each carries a magic, a nonce of this run, its sequence number,
 * its length and a payload generated from (nonce, sequence), so a frame that
 * comes back altered in any byte is seen.  Closed loop: at most WINDOW
 * frames are outstanding; one not back within TIMEOUT_MS is counted lost and
 * the window moves on (if it still comes, it is "late").  Counts sent,
 * received, lost, late, dup (a sequence back twice), corrupt (bad length or
 * payload, or a sequence never sent), stray (a well-formed frame of another
 * run, e.g. one that was late for the phase before).
 *
 * Prints "GUEST traffic start ...", one "GUEST traffic phase=... t=N ..." a
 * second and "GUEST traffic end ..." with the totals: the host's scenario
 * (tools/guest/lifecycle.sh) reads them off the serial console.  SECONDS is
 * guest time: a VM that is stopped does not use it up.  Exit 0 when frames
 * came back and none was corrupt or duplicated; loss is for the host to
 * judge, as what is acceptable depends on what the host did meanwhile.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TRAFFIC_ETHERTYPE	0x88b5
#define TRAFFIC_MAGIC		0x766d6c63u	/* "vmlc" */
#define FRAME_MIN		60
#define FRAME_MAX		1514
/* An odd step visits every size in 60..1514 before repeating, so every
 * length class (one descriptor, header split, near the MTU) recurs. */
#define FRAME_STEP		97
#define HDR_LEN			(14 + 16)

/* Sequence bookkeeping: a slot per sequence modulo TRACK.  Only the window
 * is outstanding at once; the rest of the table remembers what came back so
 * a duplicate long after is still recognised. */
#define TRACK			(1u << 18)

enum seq_state { SEQ_FREE, SEQ_OUT, SEQ_BACK, SEQ_LOST, SEQ_LATE };

struct seq_slot {
	uint32_t seq;
	uint8_t state;
	int64_t sent_ns;
};

static struct seq_slot track[TRACK];


struct counts {
	uint64_t sent, received, lost, late, dup, corrupt, stray, send_errors;
};

static const uint8_t peer_mac[6] = { 0x02, 0x76, 0x6d, 0x00, 0x00, 0x01 };

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t frame_len(uint32_t seq)
{
	return FRAME_MIN + (uint32_t)(((uint64_t)seq * FRAME_STEP) % (FRAME_MAX - FRAME_MIN + 1));
}

/* The payload: xorshift32 seeded from nonce and sequence, so two frames
 * never share a payload and a byte moved between frames is caught. */
static void fill_payload(uint8_t *p, size_t n, uint32_t nonce, uint32_t seq)
{
	uint32_t x = (nonce ^ (seq * 2654435761u)) | 1;

	for (size_t i = 0; i < n; i++) {
		if (!(i & 3)) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
		}
		p[i] = (uint8_t)(x >> ((i & 3) * 8));
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/* The first few corrupt frames, said in a line each, so that a run that
 * saw one tells what was wrong with it: which check, the frame's own
 * fields, and for a payload the first byte that differs, with 16 bytes
 * from there as they came and as they were sent. */
#define CORRUPT_REPORTS		8

static void report_corrupt(const char *phase, const char *why, const uint8_t *rx, ssize_t n,
			   size_t cap, const uint8_t *want, uint32_t next_seq, uint64_t nth)
{
	ssize_t have = n < (ssize_t)cap ? n : (ssize_t)cap, from = have >= HDR_LEN ? 14 : 0;

	uint32_t seq = n >= HDR_LEN ? get32(rx + 22) : 0, len = n >= HDR_LEN ? get32(rx + 26) : 0;
	ssize_t at = -1;
	char got_hex[33] = "", want_hex[33] = "";

	if (nth > CORRUPT_REPORTS)
		return;
	if (want) {
		for (ssize_t i = HDR_LEN; i < have && at < 0; i++)
			if (rx[i] != want[i - HDR_LEN])
				at = i;
		for (ssize_t i = at; at >= 0 && i < have && i < at + 16; i++) {
			sprintf(got_hex + 2 * (i - at), "%02x", rx[i]);
			sprintf(want_hex + 2 * (i - at), "%02x", want[i - HDR_LEN]);
		}
	} else {
		for (ssize_t i = from; i < have && i < from + 16; i++)
			sprintf(got_hex + 2 * (i - from), "%02x", rx[i]);
	}
	printf("GUEST corrupt phase=%s why=%s bytes=%zd seq=%u len=%u next_seq=%u", phase, why, n,
	       seq, len, next_seq);
	if (at >= 0)
		printf(" first_bad=%zd got=%s want=%s", at, got_hex, want_hex);
	else if (!want)
		printf(" at%zd=%s", from, got_hex);
	printf("\n");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: guest-traffic [-p PHASE] [-w WINDOW] [-t TIMEOUT_MS] IFACE SECONDS\n");
}

int main(int argc, char **argv)
{
	const char *phase = "traffic";
	unsigned window = 32, timeout_ms = 1000;
	uint8_t own_mac[6], tx[FRAME_MAX], rx[FRAME_MAX + 64], want[FRAME_MAX];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
	struct counts c = { 0 };
	struct ifreq ifr = { 0 };
	uint64_t rtt_max_ns = 0, rtt_sum_ns = 0, max_gap_ns = 0;
	uint32_t next_seq = 0, oldest = 0, outstanding = 0, nonce;
	int64_t start, end, next_report, last_back;
	double secs;
	int fd, opt, one = 1, rcvbuf = 4 << 20, t = 0;

	while ((opt = getopt(argc, argv, "p:w:t:h")) != -1) {
		switch (opt) {
		case 'p': phase = optarg; break;
		case 'w': window = (unsigned)atoi(optarg); break;
		case 't': timeout_ms = (unsigned)atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 2 || window < 1 || window > TRACK / 4 || timeout_ms < 1) {
		usage(stderr);
		return 2;
	}
	secs = atof(argv[optind + 1]);
	setvbuf(stdout, NULL, _IOLBF, 0);

	fd = socket(AF_PACKET, SOCK_RAW, htons(TRAFFIC_ETHERTYPE));
	if (fd < 0) {
		printf("GUEST traffic phase=%s error=socket:%s\n", phase, strerror(errno));
		return 1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[optind]);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) || (sll.sll_ifindex = ifr.ifr_ifindex,
	    ioctl(fd, SIOCGIFHWADDR, &ifr))) {
		printf("GUEST traffic phase=%s error=%s:%s\n", phase, argv[optind], strerror(errno));
		return 1;
	}
	memcpy(own_mac, ifr.ifr_hwaddr.sa_data, 6);
	sll.sll_protocol = htons(TRAFFIC_ETHERTYPE);
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		printf("GUEST traffic phase=%s error=bind:%s\n", phase, strerror(errno));
		return 1;
	}
	/* The frames come back addressed to peer_mac, not to us: promiscuous,
	 * so nothing between the device and this socket may filter them. */
	mr.mr_ifindex = sll.sll_ifindex;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
		printf("GUEST traffic phase=%s warning=promisc:%s\n", phase, strerror(errno));
	/* Our own frames on their way out are not ones coming back. */
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	/* A burst back must not overflow the socket: that would count as
	 * lost on the path under test. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

	memcpy(tx, peer_mac, 6);
	memcpy(tx + 6, own_mac, 6);
	tx[12] = TRAFFIC_ETHERTYPE >> 8;
	tx[13] = TRAFFIC_ETHERTYPE & 0xff;
	start = now_ns();
	nonce = (uint32_t)start ^ ((uint32_t)getpid() << 16);
	end = start + (int64_t)(secs * 1e9);
	next_report = start + 1000000000;
	last_back = start;
	printf("GUEST traffic start phase=%s iface=%s secs=%g window=%u timeout_ms=%u\n",
	       phase, argv[optind], secs, window, timeout_ms);

	for (;;) {
		int64_t now = now_ns(), wake;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		while (now < end && outstanding < window) {
			uint32_t len = frame_len(next_seq);
			struct seq_slot *s = &track[next_seq % TRACK];

			put32(tx + 14, TRAFFIC_MAGIC);
			put32(tx + 18, nonce);
			put32(tx + 22, next_seq);
			put32(tx + 26, len);
			fill_payload(tx + HDR_LEN, len - HDR_LEN, nonce, next_seq);
			if (send(fd, tx, len, 0) != (ssize_t)len) {
				/* Not sent (qdisc full, link down): try again after
				 * something came back or a timeout moved the window. */
				c.send_errors++;
				break;
			}
			s->seq = next_seq++;
			s->state = SEQ_OUT;
			s->sent_ns = now;
			outstanding++;
			c.sent++;
		}
		/* Timeouts, oldest first: all share one timeout, so the
		 * oldest outstanding frame is always the next to expire. */
		while (oldest != next_seq) {
			struct seq_slot *s = &track[oldest % TRACK];

			if (s->state == SEQ_OUT) {
				if (now - s->sent_ns < (int64_t)timeout_ms * 1000000)
					break;
				s->state = SEQ_LOST;
				c.lost++;
				outstanding--;
			}
			oldest++;
		}
		if (now >= next_report) {
			printf("GUEST traffic phase=%s t=%d sent=%llu received=%llu lost=%llu late=%llu"
			       " dup=%llu corrupt=%llu stray=%llu inflight=%u\n", phase, ++t,
			       (unsigned long long)c.sent, (unsigned long long)c.received,
			       (unsigned long long)c.lost, (unsigned long long)c.late,
			       (unsigned long long)c.dup, (unsigned long long)c.corrupt,
			       (unsigned long long)c.stray, outstanding);
			next_report += 1000000000;
		}
		if (now >= end && !outstanding)
			break;
		wake = next_report;
		if (oldest != next_seq && track[oldest % TRACK].state == SEQ_OUT &&
		    track[oldest % TRACK].sent_ns + (int64_t)timeout_ms * 1000000 < wake)
			wake = track[oldest % TRACK].sent_ns + (int64_t)timeout_ms * 1000000;
		if (now < end && outstanding < window)
			wake = now + 10000000;	/* a send failed: retry soon */
		if (poll(&pfd, 1, wake > now ? (int)((wake - now) / 1000000) + 1 : 0) <= 0)
			continue;

		for (;;) {
			struct sockaddr_ll from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(fd, rx, sizeof(rx), MSG_DONTWAIT | MSG_TRUNC,
					     (struct sockaddr *)&from, &fl);
			uint32_t seq, len;
			struct seq_slot *s;

			if (n < 0)
				break;
			if (from.sll_pkttype == PACKET_OUTGOING)
				continue;
			if (n < HDR_LEN || get32(rx + 14) != TRAFFIC_MAGIC) {
				report_corrupt(phase, "magic", rx, n, sizeof(rx), NULL, next_seq, ++c.corrupt);
				continue;
			}
			seq = get32(rx + 22);
			len = get32(rx + 26);
			if (get32(rx + 18) != nonce) {
				c.stray++;
				continue;
			}
			if ((size_t)n != len || len != frame_len(seq) || n > FRAME_MAX ||
			    memcmp(rx, peer_mac, 6) || memcmp(rx + 6, own_mac, 6) ||
			    (int32_t)(seq - next_seq) >= 0) {
				report_corrupt(phase, (size_t)n != len || len != frame_len(seq) ||
					       n > FRAME_MAX ? "length" : (int32_t)(seq - next_seq) >= 0 ?
					       "sequence" : "mac", rx, n, sizeof(rx), NULL, next_seq, ++c.corrupt);
				continue;
			}
			fill_payload(want, len - HDR_LEN, nonce, seq);
			if (memcmp(rx + HDR_LEN, want, len - HDR_LEN)) {
				report_corrupt(phase, "payload", rx, n, sizeof(rx), want, next_seq, ++c.corrupt);
				continue;
			}
			s = &track[seq % TRACK];
			if (s->seq != seq) {	/* more than TRACK ago */
				c.stray++;
				continue;
			}
			now = now_ns();
			switch (s->state) {
			case SEQ_OUT: {
				uint64_t rtt = (uint64_t)(now - s->sent_ns);

				s->state = SEQ_BACK;
				outstanding--;
				c.received++;
				rtt_sum_ns += rtt;
				if (rtt > rtt_max_ns)
					rtt_max_ns = rtt;
				if ((uint64_t)(now - last_back) > max_gap_ns)
					max_gap_ns = (uint64_t)(now - last_back);
				last_back = now;
				break;
			}
			case SEQ_LOST:
				s->state = SEQ_LATE;
				c.late++;
				break;
			default:
				c.dup++;
				break;
			}
		}
	}

	{
		int64_t stop = now_ns() < end ? now_ns() : end;
		struct tpacket_stats st = { 0 };
		socklen_t sl = sizeof(st);
		double took = (double)(now_ns() - start) / 1e9;

		/* Nothing back from some point until the sending stopped is a
		 * gap too, the one that matters most. */
		if (stop > last_back && (uint64_t)(stop - last_back) > max_gap_ns)
			max_gap_ns = (uint64_t)(stop - last_back);
		getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl);
		printf("GUEST traffic end phase=%s secs=%.2f sent=%llu received=%llu lost=%llu late=%llu"
		       " dup=%llu corrupt=%llu stray=%llu send_errors=%llu socket_drops=%u"
		       " rtt_avg_us=%llu rtt_max_us=%llu max_gap_ms=%llu frames_per_s=%.0f\n",
		       phase, took, (unsigned long long)c.sent, (unsigned long long)c.received,
		       (unsigned long long)c.lost, (unsigned long long)c.late,
		       (unsigned long long)c.dup, (unsigned long long)c.corrupt,
		       (unsigned long long)c.stray, (unsigned long long)c.send_errors, st.tp_drops,
		       (unsigned long long)(c.received ? rtt_sum_ns / c.received / 1000 : 0),
		       (unsigned long long)(rtt_max_ns / 1000),
		       (unsigned long long)(max_gap_ns / 1000000), took > 0 ? c.received / took : 0);
	}
	close(fd);
	return c.received && !c.corrupt && !c.dup ? 0 : 1;
}
