// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vringmedd's Prometheus endpoint: see metrics.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "backend_xdp.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "num.h"
#include "view.h"

/* Connections the endpoint holds at once, and how long an idle one stays. */
#define VRM_METRICS_CONNS	512
#define VRM_METRICS_IDLE_S	3

struct vrm_metrics {
	struct MHD_Daemon *httpd;
	struct vrm_view view;
	pthread_mutex_t lock;		/* the labels below */
	char *backend[VRM_MAX_DEVICES];
	const char *state[VRM_MAX_DEVICES];
	const char *kick_path[VRM_MAX_DEVICES];	/* static strings */
	struct vrm_view_calls calls;
};

static enum MHD_Result vrm_metrics_serve(void *cls, struct MHD_Connection *c, const char *url,
					const char *method, const char *version,
					const char *upload, size_t *upload_size, void **req)
{
	struct vrm_metrics *m = cls;
	struct MHD_Response *r;
	struct vrm_view_extra x;
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	(void)version; (void)upload; (void)upload_size; (void)req;
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		static const char msg[] = "only GET\n";

		r = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						    MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/metrics")) {
		static const char msg[] =
			"<html><body>vringmedd: metrics are at <a href=\"/metrics\">/metrics</a></body></html>\n";

		r = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						    MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Content-Type", "text/html");
		ret = MHD_queue_response(c, strcmp(url, "/") ? MHD_HTTP_NOT_FOUND : MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return ret;
	}
	out = open_memstream(&text, &len);
	if (!out)
		return MHD_NO;
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < VRM_MAX_DEVICES; i++) {
		x.backend[i] = m->backend[i];
		x.state[i] = m->state[i];
		x.kick_path[i] = m->kick_path[i];
	}
	x.calls = m->calls;
	vrm_view_prometheus(&m->view, &x, true, out);
	pthread_mutex_unlock(&m->lock);
	vrm_xdp_prometheus(out);
	fclose(out);
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int vrm_metrics_parse(const char *spec, char *addr, unsigned addrlen, unsigned *port)
{
	const char *colon = strrchr(spec, ':');

	snprintf(addr, addrlen, "%s", VRM_METRICS_ADDR);
	if (!strcmp(spec, "none") || !strcmp(spec, "off")) {
		*port = 0;
		return 0;
	}
	if (colon && colon != spec) {
		if ((unsigned)(colon - spec) >= addrlen)
			return -EINVAL;
		memcpy(addr, spec, (size_t)(colon - spec));
		addr[colon - spec] = 0;
	}
	return vrm_parse_u32(colon ? colon + 1 : spec, 1, 65535, port) ? -EINVAL : 0;
}

/* The HTTP server's own complaints (a full house, a peer gone mid-request),
 * through the daemon's log, one in VRM_METRICS_LOG_MS at most: a flood of
 * idle connections must not flood the journal too. */
#define VRM_METRICS_LOG_MS	10000

static void vrm_metrics_log(void *cls, const char *fmt, va_list ap)
{
	static _Atomic uint64_t next_ms;
	static atomic_uint dropped;
	uint64_t now = vrm_now_ms(), due = atomic_load(&next_ms);
	char msg[256];
	size_t n;

	(void)cls;
	if (now < due || !atomic_compare_exchange_strong(&next_ms, &due, now + VRM_METRICS_LOG_MS)) {
		atomic_fetch_add(&dropped, 1);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	n = atomic_exchange(&dropped, 0);
	if (n)
		pr_warn("metrics: %s (and %zu more of the HTTP server's messages in the last %u s)\n",
			msg, n, VRM_METRICS_LOG_MS / 1000);
	else
		pr_warn("metrics: %s\n", msg);
}

int vrm_metrics_start(struct vrm_metrics **out, struct vrm_bpf *b, const char *addr, unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct vrm_metrics *m;

	*out = NULL;
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		pr_warn("metrics: '%s' is not an IPv4 address\n", addr);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	vrm_view_from_bpf(&m->view, b);
	/* Any local user can connect: idle connections must not lock the
	 * scraper out.  epoll (no select() limit on descriptors), room for
	 * VRM_METRICS_CONNS of them, and an idle one closed after
	 * VRM_METRICS_IDLE_S (a scrape takes milliseconds). */
	m->httpd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, port,
				    NULL, NULL, vrm_metrics_serve, m,
				    /* First, or the library's own logger has the
				     * options before it. */
				    MHD_OPTION_EXTERNAL_LOGGER, vrm_metrics_log, NULL,
				    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)VRM_METRICS_CONNS,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)VRM_METRICS_IDLE_S,
				    MHD_OPTION_END);
	if (!m->httpd) {
		pr_warn("metrics: cannot serve http://%s:%u/metrics (port taken? --metrics ADDR:PORT "
			"or --metrics none)\n", addr, port);
		vrm_view_close(&m->view);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return -EADDRINUSE;
	}
	pr_info("metrics: http://%s:%u/metrics\n", addr, port);
	*out = m;
	return 0;
}

void vrm_metrics_set_device(struct vrm_metrics *m, uint32_t slot, const char *backend,
			   const char *state, const char *kick_path)
{
	if (!m || slot >= VRM_MAX_DEVICES)
		return;
	pthread_mutex_lock(&m->lock);
	free(m->backend[slot]);
	m->backend[slot] = backend ? strdup(backend) : NULL;
	m->state[slot] = state;
	m->kick_path[slot] = kick_path;
	if (!backend) {
		m->calls.known[slot] = false;
		memset(m->calls.calls[slot], 0, sizeof(m->calls.calls[slot]));
		memset(m->calls.suppressed[slot], 0, sizeof(m->calls.suppressed[slot]));
		memset(m->calls.poll_periods[slot], 0, sizeof(m->calls.poll_periods[slot]));
		memset(m->calls.poll_chains[slot], 0, sizeof(m->calls.poll_chains[slot]));
		memset(m->calls.poll_first_kicks[slot], 0, sizeof(m->calls.poll_first_kicks[slot]));
		memset(m->calls.poll_us[slot], 0, sizeof(m->calls.poll_us[slot]));
		memset(m->calls.eidx_kicks[slot], 0, sizeof(m->calls.eidx_kicks[slot]));
		memset(m->calls.eidx_calls[slot], 0, sizeof(m->calls.eidx_calls[slot]));
		memset(m->calls.eidx_be_kicks[slot], 0, sizeof(m->calls.eidx_be_kicks[slot]));
		memset(m->calls.eidx_rescues[slot], 0, sizeof(m->calls.eidx_rescues[slot]));
	}
	pthread_mutex_unlock(&m->lock);
}

void vrm_metrics_set_calls(struct vrm_metrics *m, uint32_t slot, const unsigned long *calls,
			  const unsigned long *suppressed, unsigned nq)
{
	if (!m || slot >= VRM_MAX_DEVICES)
		return;
	pthread_mutex_lock(&m->lock);
	m->calls.known[slot] = true;
	for (unsigned q = 0; q < nq && q < VRM_DEV_QUEUES; q++) {
		m->calls.calls[slot][q] = calls[q];
		m->calls.suppressed[slot][q] = suppressed[q];
	}
	pthread_mutex_unlock(&m->lock);
}

void vrm_metrics_set_poll(struct vrm_metrics *m, uint32_t slot, const unsigned long *periods,
			 const unsigned long *chains, const unsigned long *first_kicks,
			 const unsigned long *us, unsigned nq)
{
	if (!m || slot >= VRM_MAX_DEVICES)
		return;
	pthread_mutex_lock(&m->lock);
	for (unsigned q = 0; q < nq && q < VRM_DEV_QUEUES; q++) {
		m->calls.poll_periods[slot][q] = periods[q];
		m->calls.poll_chains[slot][q] = chains[q];
		m->calls.poll_first_kicks[slot][q] = first_kicks[q];
		m->calls.poll_us[slot][q] = us[q];
	}
	pthread_mutex_unlock(&m->lock);
}

void vrm_metrics_set_eidx(struct vrm_metrics *m, uint32_t slot, const unsigned long *kicks,
			 const unsigned long *calls, const unsigned long *be_kicks,
			 const unsigned long *rescues, unsigned nq)
{
	if (!m || slot >= VRM_MAX_DEVICES)
		return;
	pthread_mutex_lock(&m->lock);
	for (unsigned q = 0; q < nq && q < VRM_DEV_QUEUES; q++) {
		m->calls.eidx_kicks[slot][q] = kicks[q];
		m->calls.eidx_calls[slot][q] = calls[q];
		m->calls.eidx_be_kicks[slot][q] = be_kicks[q];
		m->calls.eidx_rescues[slot][q] = rescues[q];
	}
	pthread_mutex_unlock(&m->lock);
}

void vrm_metrics_stop(struct vrm_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->httpd);
	vrm_view_close(&m->view);
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		free(m->backend[i]);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
