/* SPDX-License-Identifier: MIT */
/*
 * telemetry.c - the driver's generic netlink family "wse" through
 * libnl-genl-3: device counters (GET_DEVICE, doit or dump) on one socket,
 * multicast events on a second one so that they never interleave with
 * request replies.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "libwse/internal.h"
#include "uapi/wse_accel.h"

#define EVENT_RING	64

struct wse_telemetry {
	struct nl_sock *req;
	struct nl_sock *ev;
	int family;
	char errmsg[WSE_ERRMSG_LEN];
	struct wse_event ring[EVENT_RING];
	unsigned head, count;
	unsigned dropped;
};

/* Collects GET_DEVICE replies. */
struct stats_sink {
	struct wse_dev_stats *v;
	size_t n, cap;
	int err;
};

static struct nla_policy policy[WSE_GENL_A_MAX + 1] = {
	[WSE_GENL_A_DEV_INDEX] = { .type = NLA_U32 },
	[WSE_GENL_A_PCI_NAME] = { .type = NLA_STRING },
	[WSE_GENL_A_STATE] = { .type = NLA_U32 },
	[WSE_GENL_A_SRAM_TOTAL] = { .type = NLA_U64 },
	[WSE_GENL_A_SRAM_USED] = { .type = NLA_U64 },
	[WSE_GENL_A_QUEUES] = { .type = NLA_U32 },
	[WSE_GENL_A_JOBS_DONE] = { .type = NLA_U64 },
	[WSE_GENL_A_FAULTS] = { .type = NLA_U64 },
	[WSE_GENL_A_RESETS] = { .type = NLA_U64 },
	[WSE_GENL_A_TIMEOUTS] = { .type = NLA_U64 },
	[WSE_GENL_A_GRID_W] = { .type = NLA_U32 },
	[WSE_GENL_A_GRID_H] = { .type = NLA_U32 },
	[WSE_GENL_A_CONTEXTS] = { .type = NLA_U32 },
	[WSE_GENL_A_EVENT] = { .type = NLA_U32 },
	[WSE_GENL_A_EVENT_QUEUE] = { .type = NLA_U32 },
	[WSE_GENL_A_EVENT_STATUS] = { .type = NLA_U32 },
	[WSE_GENL_A_EVENT_CONTEXT] = { .type = NLA_U32 },
};

/* Keeps the message on t for wse_telemetry_last_error() and returns err. */
#define tfail(t, err, ...) wse__failbuf((t)->errmsg, sizeof((t)->errmsg), (err), __VA_ARGS__)

/* libnl's NLE_* codes to errno. */
static int nl_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_SUCCESS: return 0;
	case NLE_INTR: return -EINTR;
	case NLE_AGAIN: return -EAGAIN;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_PERM: return -EPERM;
	case NLE_NOACCESS: return -EACCES;
	case NLE_INVAL: return -EINVAL;
	case NLE_RANGE: return -ERANGE;
	case NLE_NODEV: return -ENODEV;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_NOADDR: return -EADDRNOTAVAIL;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_PROTO_MISMATCH: return -EPROTONOSUPPORT;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	case NLE_BUSY: return -EBUSY;
	case NLE_MSG_TRUNC: return -EMSGSIZE;
	case NLE_EXIST: return -EEXIST;
	case NLE_MSGSIZE: return -EMSGSIZE;
	case NLE_DUMP_INTR: return -EAGAIN;
	case NLE_MSG_OVERFLOW: return -EOVERFLOW;
	}
	return -EIO;
}

static uint32_t get_u32(struct nlattr **tb, int a, uint32_t dflt)
{
	return tb[a] ? nla_get_u32(tb[a]) : dflt;
}

static uint64_t get_u64(struct nlattr **tb, int a)
{
	return tb[a] ? nla_get_u64(tb[a]) : 0;
}

static void get_str(struct nlattr **tb, int a, char *buf, size_t len)
{
	if (tb[a])
		nla_strlcpy(buf, tb[a], len);
	else
		buf[0] = 0;
}

static int on_device(struct nl_msg *msg, void *arg)
{
	struct stats_sink *sink = arg;
	struct nlattr *tb[WSE_GENL_A_MAX + 1];
	struct wse_dev_stats st = { 0 };
	int err;

	err = genlmsg_parse(nlmsg_hdr(msg), 0, tb, WSE_GENL_A_MAX, policy);
	if (err < 0 || !tb[WSE_GENL_A_DEV_INDEX]) {
		sink->err = -EPROTO;
		return NL_SKIP;
	}
	st.dev_index = nla_get_u32(tb[WSE_GENL_A_DEV_INDEX]);
	get_str(tb, WSE_GENL_A_PCI_NAME, st.pci_name, sizeof(st.pci_name));
	st.state = wse__state_from_genl(get_u32(tb, WSE_GENL_A_STATE, WSE_GENL_STATE_READY));
	st.sram_total = get_u64(tb, WSE_GENL_A_SRAM_TOTAL);
	st.sram_used = get_u64(tb, WSE_GENL_A_SRAM_USED);
	st.queues = get_u32(tb, WSE_GENL_A_QUEUES, 0);
	st.jobs_done = get_u64(tb, WSE_GENL_A_JOBS_DONE);
	st.faults = get_u64(tb, WSE_GENL_A_FAULTS);
	st.resets = get_u64(tb, WSE_GENL_A_RESETS);
	st.timeouts = get_u64(tb, WSE_GENL_A_TIMEOUTS);
	st.grid_width = get_u32(tb, WSE_GENL_A_GRID_W, 0);
	st.grid_height = get_u32(tb, WSE_GENL_A_GRID_H, 0);
	st.contexts = get_u32(tb, WSE_GENL_A_CONTEXTS, 0);
	if (sink->n == sink->cap) {
		size_t cap = sink->cap ? 2 * sink->cap : 8;
		struct wse_dev_stats *v = realloc(sink->v, cap * sizeof(*v));

		if (!v) {
			sink->err = -ENOMEM;
			return NL_STOP;
		}
		sink->v = v;
		sink->cap = cap;
	}
	sink->v[sink->n++] = st;
	return NL_OK;
}

static int on_event(struct nl_msg *msg, void *arg)
{
	wse_telemetry *t = arg;
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *tb[WSE_GENL_A_MAX + 1];
	struct wse_event ev = { 0 };

	if (gh->cmd != WSE_GENL_CMD_EVENT ||
	    genlmsg_parse(nlmsg_hdr(msg), 0, tb, WSE_GENL_A_MAX, policy) < 0 ||
	    !tb[WSE_GENL_A_EVENT])
		return NL_SKIP;
	ev.type = wse__event_from_genl(nla_get_u32(tb[WSE_GENL_A_EVENT]));
	ev.dev_index = get_u32(tb, WSE_GENL_A_DEV_INDEX, ~0u);
	get_str(tb, WSE_GENL_A_PCI_NAME, ev.pci_name, sizeof(ev.pci_name));
	ev.queue = get_u32(tb, WSE_GENL_A_EVENT_QUEUE, ~0u);
	ev.status = tb[WSE_GENL_A_EVENT_STATUS] ?
		    wse__status_from_uapi(nla_get_u32(tb[WSE_GENL_A_EVENT_STATUS])) : ~0u;
	ev.context = get_u32(tb, WSE_GENL_A_EVENT_CONTEXT, ~0u);
	if (t->count == EVENT_RING) {	/* keep the newest */
		t->head = (t->head + 1) % EVENT_RING;
		t->count--;
		t->dropped++;
	}
	t->ring[(t->head + t->count) % EVENT_RING] = ev;
	t->count++;
	return NL_OK;
}

int wse_telemetry_open(wse_telemetry **out, char *errmsg, size_t errmsg_len)
{
	wse_telemetry *t;
	int err;

	if (errmsg && errmsg_len)
		errmsg[0] = 0;
	if (!out)
		return wse__failbuf(errmsg, errmsg_len, -EINVAL, "telemetry_open: out is NULL");
	t = calloc(1, sizeof(*t));
	if (!t)
		return wse__failbuf(errmsg, errmsg_len, -ENOMEM, "out of memory");
	t->req = nl_socket_alloc();
	if (!t->req) {
		free(t);
		return wse__failbuf(errmsg, errmsg_len, -ENOMEM, "out of memory");
	}
	err = genl_connect(t->req);
	if (err < 0) {
		err = nl_errno(err);
		wse__failbuf(errmsg, errmsg_len, err, "cannot open a generic netlink socket: %s",
			     wse_strerror(err));
		goto fail;
	}
	t->family = genl_ctrl_resolve(t->req, WSE_GENL_NAME);
	if (t->family < 0) {
		err = nl_errno(t->family);
		if (err == -ENOENT)
			wse__failbuf(errmsg, errmsg_len, err,
				     "generic netlink family \"%s\" not found: the wse kernel module "
				     "is %s", WSE_GENL_NAME,
				     wse_module_loaded() ? "loaded but registered no telemetry"
							 : "not loaded (modprobe wse)");
		else
			wse__failbuf(errmsg, errmsg_len, err,
				     "cannot resolve generic netlink family \"%s\": %s",
				     WSE_GENL_NAME, nl_geterror(t->family));
		goto fail;
	}
	*out = t;
	return 0;
fail:
	nl_socket_free(t->req);
	free(t);
	return err;
}

void wse_telemetry_close(wse_telemetry *t)
{
	if (!t)
		return;
	if (t->ev)
		nl_socket_free(t->ev);
	nl_socket_free(t->req);
	free(t);
}

const char *wse_telemetry_last_error(const wse_telemetry *t)
{
	return t ? t->errmsg : "no telemetry handle";
}

static int request(wse_telemetry *t, int dump, uint32_t dev_index, struct stats_sink *sink)
{
	struct nl_msg *msg = nlmsg_alloc();
	int err;

	if (!msg)
		return tfail(t, -ENOMEM, "out of memory");
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, t->family, 0, dump ? NLM_F_DUMP : 0,
			 WSE_GENL_CMD_GET_DEVICE, WSE_GENL_VERSION) ||
	    (!dump && nla_put_u32(msg, WSE_GENL_A_DEV_INDEX, dev_index) < 0)) {
		nlmsg_free(msg);
		return tfail(t, -ENOMEM, "cannot build a GET_DEVICE request");
	}
	nl_socket_modify_cb(t->req, NL_CB_VALID, NL_CB_CUSTOM, on_device, sink);
	err = nl_send_auto(t->req, msg);
	nlmsg_free(msg);
	if (err >= 0)
		err = dump ? nl_recvmsgs_default(t->req) : nl_wait_for_ack(t->req);
	if (err < 0) {
		err = nl_errno(err);
		if (!dump && (err == -ENOENT || err == -ENODEV))
			return tfail(t, -ENODEV, "no wse device with accel index %u", dev_index);
		return tfail(t, err, "GET_DEVICE failed: %s", wse_strerror(err));
	}
	if (sink->err)
		return tfail(t, sink->err, "GET_DEVICE: %s", sink->err == -EPROTO ?
			     "reply without a device index" : wse_strerror(sink->err));
	return 0;
}

int wse_telemetry_get(wse_telemetry *t, uint32_t dev_index, struct wse_dev_stats *stats)
{
	struct stats_sink sink = { 0 };
	int err;

	if (!t)
		return -EINVAL;
	if (!stats)
		return tfail(t, -EINVAL, "telemetry_get: stats is NULL");
	err = request(t, 0, dev_index, &sink);
	if (!err && sink.n == 0)
		err = tfail(t, -ENODEV, "no wse device with accel index %u", dev_index);
	if (!err)
		*stats = sink.v[0];
	free(sink.v);
	return err;
}

static int stats_cmp(const void *a, const void *b)
{
	const struct wse_dev_stats *x = a, *y = b;

	return (x->dev_index > y->dev_index) - (x->dev_index < y->dev_index);
}

int wse_telemetry_list(wse_telemetry *t, struct wse_dev_stats *stats, size_t capacity)
{
	struct stats_sink sink = { 0 };
	int err;

	if (!t)
		return -EINVAL;
	if (capacity && !stats)
		return tfail(t, -EINVAL, "telemetry_list: stats is NULL");
	err = request(t, 1, 0, &sink);
	if (!err) {
		if (sink.n > 1)
			qsort(sink.v, sink.n, sizeof(*sink.v), stats_cmp);
		if (sink.n && capacity)
			memcpy(stats, sink.v, (sink.n < capacity ? sink.n : capacity) * sizeof(*stats));
		err = (int)sink.n;
	}
	free(sink.v);
	return err;
}

int wse_telemetry_subscribe(wse_telemetry *t)
{
	int grp, err;

	if (!t)
		return -EINVAL;
	if (t->ev)
		return 0;
	grp = genl_ctrl_resolve_grp(t->req, WSE_GENL_NAME, WSE_GENL_MCGRP_EVENTS);
	if (grp < 0)
		return tfail(t, nl_errno(grp), "multicast group \"%s\" of \"%s\" not found: %s",
			     WSE_GENL_MCGRP_EVENTS, WSE_GENL_NAME, nl_geterror(grp));
	t->ev = nl_socket_alloc();
	if (!t->ev)
		return tfail(t, -ENOMEM, "out of memory");
	nl_socket_disable_seq_check(t->ev);
	nl_socket_modify_cb(t->ev, NL_CB_VALID, NL_CB_CUSTOM, on_event, t);
	err = genl_connect(t->ev);
	if (err >= 0)
		err = nl_socket_add_membership(t->ev, grp);
	if (err >= 0)
		err = nl_socket_set_nonblocking(t->ev);
	if (err < 0) {
		err = nl_errno(err);
		nl_socket_free(t->ev);
		t->ev = NULL;
		return tfail(t, err, "cannot join the \"%s\" multicast group: %s%s",
			     WSE_GENL_MCGRP_EVENTS, wse_strerror(err),
			     err == -EACCES ? " (needs CAP_NET_ADMIN)" : "");
	}
	return 0;
}

int wse_telemetry_fd(const wse_telemetry *t)
{
	return t && t->ev ? nl_socket_get_fd(t->ev) : -1;
}

int wse_telemetry_next_event(wse_telemetry *t, struct wse_event *ev, int timeout_ms)
{
	struct pollfd pfd;
	int n, err;

	if (!t)
		return -EINVAL;
	if (!ev)
		return tfail(t, -EINVAL, "next_event: ev is NULL");
	if (!t->ev)
		return tfail(t, -EINVAL, "next_event: call wse_telemetry_subscribe() first");
	while (t->count == 0) {
		pfd.fd = nl_socket_get_fd(t->ev);
		pfd.events = POLLIN;
		n = poll(&pfd, 1, timeout_ms);
		if (n < 0)
			return tfail(t, wse__neg_errno(), "poll: %s", wse_strerror(wse__neg_errno()));
		if (n == 0)
			return tfail(t, -ETIMEDOUT, "no event within %d ms", timeout_ms);
		err = nl_recvmsgs_default(t->ev);
		/* AGAIN: drained; NOMEM is libnl's ENOBUFS: the kernel dropped events. */
		if (err < 0 && err != -NLE_AGAIN && err != -NLE_NOMEM)
			return tfail(t, nl_errno(err), "receiving events: %s", nl_geterror(err));
		if (t->count == 0 && timeout_ms == 0)
			return tfail(t, -ETIMEDOUT, "no event");
		/* A non-event message: poll again with the full timeout (good enough here). */
	}
	*ev = t->ring[t->head];
	t->head = (t->head + 1) % EVENT_RING;
	t->count--;
	return 0;
}
