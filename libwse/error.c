/* SPDX-License-Identifier: MIT */
/* error.c - error codes, messages and the names of device statuses. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "libwse/internal.h"

const char *wse_strerror(int err)
{
	const char *desc;

	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	/* Messages that say what the code means for a wse call, not in general. */
	switch (err) {
	case ENOENT:
		return "no such device, object or job";
	case ENODEV:
		return "not a wse device, or the device is gone";
	case EACCES:
		return "permission denied";
	case EPERM:
		return "operation needs privileges (CAP_SYS_ADMIN or CAP_NET_ADMIN)";
	case ETIMEDOUT:
		return "timed out";
	case EIO:
		return "the job failed on the device";
	case ENOSPC:
		return "out of space (SRAM full, stream full or address space full)";
	case E2BIG:
		return "too many buffers for one job";
	case EOPNOTSUPP:
		return "not supported by this device";
	case EOVERFLOW:
		return "size overflows";
	case EBUSY:
		return "object in use";
	}
	/* strerrordesc_np returns static, thread-safe text (glibc >= 2.32). */
	desc = strerrordesc_np(err);
	return desc ? desc : "unknown error";
}

const char *wse_status_str(uint32_t status)
{
	switch (status) {
	case WSE_JOB_OK: return "ok";
	case WSE_JOB_ERR_OPCODE: return "unknown opcode";
	case WSE_JOB_ERR_STREAM: return "malformed op stream";
	case WSE_JOB_ERR_CONTEXT: return "invalid context";
	case WSE_JOB_ERR_FAULT: return "address fault";
	case WSE_JOB_ERR_SHAPE: return "bad shape";
	case WSE_JOB_ERR_DMA: return "host DMA error";
	case WSE_JOB_ERR_SRAM: return "uncorrectable SRAM error";
	case WSE_JOB_ERR_ABORTED: return "aborted by a reset";
	case WSE_JOB_ERR_REGION: return "PE region outside the grid";
	case WSE_JOB_TIMEOUT: return "timed out (queue reset)";
	case WSE_JOB_CORRUPT: return "corrupt completion";
	case WSE_JOB_DEVICE_LOST: return "device lost";
	}
	return "unknown status";
}

const char *wse_state_str(uint32_t state)
{
	switch (state) {
	case WSE_STATE_READY: return "ready";
	case WSE_STATE_RESETTING: return "resetting";
	case WSE_STATE_FATAL: return "fatal";
	case WSE_STATE_GONE: return "gone";
	}
	return "unknown";
}

const char *wse_event_str(uint32_t type)
{
	switch (type) {
	case WSE_EV_JOB_TIMEOUT: return "job-timeout";
	case WSE_EV_QUEUE_RESET: return "queue-reset";
	case WSE_EV_DEVICE_RESET: return "device-reset";
	case WSE_EV_FAULT: return "fault";
	case WSE_EV_SRAM_ERROR: return "sram-error";
	case WSE_EV_DMA_ERROR: return "dma-error";
	}
	return "unknown";
}

int wse__vfailbuf(char *buf, size_t len, int err, const char *fmt, va_list ap)
{
	if (buf && len)
		vsnprintf(buf, len, fmt, ap);
	return err;
}

int wse__failbuf(char *buf, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wse__vfailbuf(buf, len, err, fmt, ap);
	va_end(ap);
	return err;
}

int wse__fail(wse_device *dev, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&dev->lock);
	va_start(ap, fmt);
	wse__vfailbuf(dev->errmsg, sizeof(dev->errmsg), err, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&dev->lock);
	return err;
}

int wse__neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

const char *wse_last_error(const wse_device *dev)
{
	return dev ? dev->errmsg : "no device handle";
}

void wse_last_error_copy(const wse_device *dev, char *buf, size_t len)
{
	if (!buf || !len)
		return;
	if (!dev) {
		snprintf(buf, len, "no device handle");
		return;
	}
	pthread_mutex_lock((pthread_mutex_t *)&dev->lock);
	snprintf(buf, len, "%s", dev->errmsg);
	pthread_mutex_unlock((pthread_mutex_t *)&dev->lock);
}

void wse__link_add(struct wse_link *head, struct wse_link *node)
{
	node->next = head->next;
	node->prev = head;
	head->next->prev = node;
	head->next = node;
}

void wse__link_del(struct wse_link *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	node->prev = node->next = node;
}
