// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hardware side of wse: register set-up, the submission/completion rings,
 * interrupts, the event ring, hang detection and resets.
 *
 * Jobs go straight into the hardware ring of their queue (no drm_sched; see
 * docs/ioctl-abi.md). The device completes a queue's commands in order, so
 * the oldest in-flight job is the one each completion entry belongs to.
 */
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/iopoll.h>
#include <drm/drm_drv.h>
#include <drm/drm_print.h>

#include "wse_drv.h"

#define WSE_READY_TIMEOUT_US	(2 * USEC_PER_SEC)

static u32 wse_rd(struct wse_device *wdev, u32 reg)
{
	return readl(wdev->regs + reg);
}

static void wse_wr(struct wse_device *wdev, u32 reg, u32 val)
{
	writel(val, wdev->regs + reg);
}

static void wse_qwr(struct wse_queue *q, u32 reg, u32 val)
{
	writel(val, q->wdev->regs + WSE_REG_QUEUE(q->index) + reg);
}

static u32 wse_qrd(struct wse_queue *q, u32 reg)
{
	return readl(q->wdev->regs + WSE_REG_QUEUE(q->index) + reg);
}

static unsigned long wse_timeout_jiffies(void)
{
	return msecs_to_jiffies(wse_job_timeout_ms);
}

/* How often a busy queue is checked: a job times out within 1.25 timeouts. */
static unsigned long wse_check_jiffies(void)
{
	return max(wse_timeout_jiffies() / 4, 1UL);
}

/* Called with q->lock held; the queue is stopped (after reset or at init). */
static void wse_queue_program(struct wse_queue *q)
{
	memset(q->cq, 0, q->size * sizeof(*q->cq));
	q->sq_tail = 0;
	q->cq_head = 0;
	q->phase = WSE_CQE_PHASE;
	wse_qwr(q, WSE_QREG_SQ_BASE_LO, lower_32_bits(q->sq_dma));
	wse_qwr(q, WSE_QREG_SQ_BASE_HI, upper_32_bits(q->sq_dma));
	wse_qwr(q, WSE_QREG_CQ_BASE_LO, lower_32_bits(q->cq_dma));
	wse_qwr(q, WSE_QREG_CQ_BASE_HI, upper_32_bits(q->cq_dma));
	wse_qwr(q, WSE_QREG_SIZE, q->size);
	wse_qwr(q, WSE_QREG_ENABLE, 1);
}

/* event_lock held: the event ring starts over. */
static void wse_program_tables(struct wse_device *wdev)
{
	wse_wr(wdev, WSE_REG_CTX_BASE_LO, lower_32_bits(wdev->ctx_table_dma));
	wse_wr(wdev, WSE_REG_CTX_BASE_HI, upper_32_bits(wdev->ctx_table_dma));
	wse_wr(wdev, WSE_REG_CTX_COUNT, wdev->max_contexts);

	/* The base is writable only while the ring is off; sizing it resets head and tail. */
	wse_wr(wdev, WSE_REG_EVQ_SIZE, 0);
	memset(wdev->evq, 0, WSE_EVQ_ENTRIES * sizeof(*wdev->evq));
	wdev->evq_head = 0;
	wse_wr(wdev, WSE_REG_EVQ_BASE_LO, lower_32_bits(wdev->evq_dma));
	wse_wr(wdev, WSE_REG_EVQ_BASE_HI, upper_32_bits(wdev->evq_dma));
	wse_wr(wdev, WSE_REG_EVQ_SIZE, WSE_EVQ_ENTRIES);
}

static int wse_wait_ready(struct wse_device *wdev)
{
	u32 status;

	return readl_poll_timeout(wdev->regs + WSE_REG_STATUS, status,
				  status != U32_MAX && (status & WSE_HW_DEV_READY) &&
				  !(status & WSE_HW_DEV_FATAL),
				  1000, WSE_READY_TIMEOUT_US);
}

int wse_hw_init(struct wse_device *wdev)
{
	struct device *dev = &wdev->pdev->dev;
	u32 magic, nq, i;
	int ret;

	magic = wse_rd(wdev, WSE_REG_MAGIC);
	if (magic != WSE_HW_MAGIC) {
		drm_err(&wdev->drm, "bad magic %#x\n", magic);
		return -ENODEV;
	}
	wdev->hw_version = wse_rd(wdev, WSE_REG_VERSION);
	if ((wdev->hw_version >> 16) != WSE_HW_VERSION_MAJOR) {
		drm_err(&wdev->drm, "unsupported hardware version %#x\n", wdev->hw_version);
		return -ENODEV;
	}
	wdev->caps = wse_rd(wdev, WSE_REG_CAPS);
	wdev->dtypes = wse_rd(wdev, WSE_REG_DTYPES);
	nq = wse_rd(wdev, WSE_REG_NUM_QUEUES);
	if (nq == 0 || nq > WSE_MAX_QUEUES) {
		drm_err(&wdev->drm, "bad queue count %u\n", nq);
		return -ENODEV;
	}
	wdev->num_queues = nq;
	wdev->sram_size = wse_rd(wdev, WSE_REG_SRAM_SIZE_LO) |
			  (u64)wse_rd(wdev, WSE_REG_SRAM_SIZE_HI) << 32;
	wdev->grid_w = wse_rd(wdev, WSE_REG_GRID_W);
	wdev->grid_h = wse_rd(wdev, WSE_REG_GRID_H);
	wdev->pe_sram = wse_rd(wdev, WSE_REG_PE_SRAM);
	wdev->clock_khz = wse_rd(wdev, WSE_REG_CLOCK_KHZ);
	wdev->serial = wse_rd(wdev, WSE_REG_SERIAL);
	wdev->max_contexts = min_t(u32, wse_rd(wdev, WSE_REG_MAX_CONTEXTS), WSE_MAX_CONTEXTS);
	if (wdev->max_contexts < 2) {
		drm_err(&wdev->drm, "device holds too few contexts\n");
		return -ENODEV;
	}

	wse_wr(wdev, WSE_REG_CONTROL, WSE_CONTROL_RESET);
	ret = wse_wait_ready(wdev);
	if (ret) {
		drm_err(&wdev->drm, "device did not become ready\n");
		return ret;
	}

	wdev->ctx_table = dma_alloc_coherent(dev, wdev->max_contexts * sizeof(*wdev->ctx_table),
					     &wdev->ctx_table_dma, GFP_KERNEL);
	wdev->evq = dma_alloc_coherent(dev, WSE_EVQ_ENTRIES * sizeof(*wdev->evq),
				       &wdev->evq_dma, GFP_KERNEL);
	if (!wdev->ctx_table || !wdev->evq)
		return -ENOMEM;

	for (i = 0; i < nq; i++) {
		struct wse_queue *q = &wdev->queues[i];

		q->sq = dma_alloc_coherent(dev, q->size * sizeof(*q->sq), &q->sq_dma, GFP_KERNEL);
		q->cq = dma_alloc_coherent(dev, q->size * sizeof(*q->cq), &q->cq_dma, GFP_KERNEL);
		if (!q->sq || !q->cq)
			return -ENOMEM;
	}

	mutex_lock(&wdev->event_lock);
	wse_program_tables(wdev);
	mutex_unlock(&wdev->event_lock);
	for (i = 0; i < nq; i++) {
		spin_lock(&wdev->queues[i].lock);
		wse_queue_program(&wdev->queues[i]);
		spin_unlock(&wdev->queues[i].lock);
	}
	wdev->state = WSE_STATE_READY;
	return 0;
}

/* Frees the rings wse_hw_init() allocated; the device must be quiet. */
void wse_hw_fini(struct wse_device *wdev)
{
	struct device *dev = &wdev->pdev->dev;
	u32 i;

	for (i = 0; i < WSE_MAX_QUEUES; i++) {
		struct wse_queue *q = &wdev->queues[i];

		if (q->sq)
			dma_free_coherent(dev, q->size * sizeof(*q->sq), q->sq, q->sq_dma);
		if (q->cq)
			dma_free_coherent(dev, q->size * sizeof(*q->cq), q->cq, q->cq_dma);
		q->sq = NULL;
		q->cq = NULL;
	}
	if (wdev->evq)
		dma_free_coherent(dev, WSE_EVQ_ENTRIES * sizeof(*wdev->evq), wdev->evq,
				  wdev->evq_dma);
	wdev->evq = NULL;
	/* The context table goes with the DRM device: closing files still use it. */
}

/* q->lock held. */
static void wse_queue_push(struct wse_queue *q, struct wse_job *job)
{
	job->seq = q->next_seq++;
	job->sqe.seq = cpu_to_le64(job->seq);
	job->slot = q->sq_tail;
	q->sq[q->sq_tail] = job->sqe;
	q->sq_tail = (q->sq_tail + 1) & (q->size - 1);
	list_add_tail(&job->qnode, &q->inflight);
	q->inflight_count++;
}

/* q->lock held. */
static void wse_queue_arm_timeout(struct wse_queue *q)
{
	q->clock_seq = 0;
	mod_delayed_work(wse_wq, &q->timeout_work, wse_check_jiffies());
}

static bool wse_queue_has_room(struct wse_queue *q)
{
	return (!READ_ONCE(q->stopped) && READ_ONCE(q->inflight_count) < q->size - 1) ||
	       drm_dev_is_unplugged(&q->wdev->drm);
}

/* Takes over the queue's reference to @job. */
int wse_queue_submit(struct wse_queue *q, struct wse_job *job)
{
	struct wse_device *wdev = q->wdev;
	int idx, ret;

	for (;;) {
		if (!drm_dev_enter(&wdev->drm, &idx))
			return -ENODEV;
		spin_lock(&q->lock);
		if (!q->stopped && q->inflight_count < q->size - 1) {
			bool was_idle = list_empty(&q->inflight);

			job->queue = q;
			/* Counted before the device can complete it. */
			atomic64_inc(&wdev->jobs_submitted);
			wse_queue_push(q, job);
			wse_qwr(q, WSE_QREG_SQ_TAIL, q->sq_tail);
			if (was_idle)
				wse_queue_arm_timeout(q);
			spin_unlock(&q->lock);
			drm_dev_exit(idx);
			return 0;
		}
		spin_unlock(&q->lock);
		drm_dev_exit(idx);
		ret = wait_event_interruptible(q->space_wq, wse_queue_has_room(q));
		if (ret)
			return ret;
	}
}

/*
 * Consumes completion entries; safe to call from any process context. While
 * the queue is being reset the device's CQ head is left alone: the reset
 * sets it to 0.
 */
static void wse_queue_process(struct wse_queue *q)
{
	struct wse_job *job, *tmp;
	LIST_HEAD(done);
	bool progress = false;

	spin_lock(&q->lock);
	for (;;) {
		struct wse_hw_cqe *cqe = &q->cq[q->cq_head];
		struct wse_hw_cqe entry;

		if ((le16_to_cpu(READ_ONCE(cqe->flags)) & WSE_CQE_PHASE) != q->phase)
			break;
		dma_rmb();
		entry = *cqe;
		job = list_first_entry_or_null(&q->inflight, struct wse_job, qnode);
		if (job) {
			list_move_tail(&job->qnode, &done);
			q->inflight_count--;
			job->cycles = le64_to_cpu(entry.cycles);
			job->op_index = le32_to_cpu(entry.op_index);
			job->status = le64_to_cpu(entry.seq) == job->seq ?
				      wse_status_to_uapi(le32_to_cpu(entry.status)) :
				      DRM_WSE_STATUS_CORRUPT;
		}
		q->cq_head++;
		if (q->cq_head == q->size) {
			q->cq_head = 0;
			q->phase ^= WSE_CQE_PHASE;
		}
		progress = true;
	}
	if (progress) {
		int idx;

		if (!q->stopped && drm_dev_enter(&q->wdev->drm, &idx)) {
			wse_qwr(q, WSE_QREG_CQ_HEAD, q->cq_head);
			drm_dev_exit(idx);
		}
		if (list_empty(&q->inflight))
			cancel_delayed_work(&q->timeout_work);
	}
	spin_unlock(&q->lock);

	list_for_each_entry_safe(job, tmp, &done, qnode) {
		list_del_init(&job->qnode);
		if (job->status == DRM_WSE_STATUS_CORRUPT) {
			atomic64_inc(&q->wdev->faults);
			dev_warn_ratelimited(q->wdev->drm.dev,
					     "queue %u: completion does not match job %llu\n",
					     q->index, job->seq);
		}
		wse_job_finish(job, job->status, job->op_index, job->cycles);
	}
	if (progress)
		wake_up_all(&q->space_wq);
}

static irqreturn_t wse_queue_irq(int irq, void *arg)
{
	wse_queue_process(arg);
	return IRQ_HANDLED;
}

/* q->lock held. */
static bool wse_queue_is_hung(struct wse_queue *q)
{
	return !list_empty(&q->inflight) && q->clock_seq &&
	       list_first_entry(&q->inflight, struct wse_job, qnode)->seq == q->clock_seq &&
	       !time_before(jiffies, q->clock_start + wse_timeout_jiffies());
}

/*
 * Whether the device's one worker runs a command of a queue other than @q:
 * that queue's oldest job has been fetched (SQ_HEAD moved past it) and has
 * not completed. Jobs of @q then wait for the worker; that is not a hang of
 * @q, and @q's clock must not run for them.
 */
static bool wse_worker_busy_elsewhere(struct wse_queue *q)
{
	struct wse_device *wdev = q->wdev;
	u32 i;

	for (i = 0; i < wdev->num_queues; i++) {
		struct wse_queue *other = &wdev->queues[i];
		bool has_job;
		u32 slot = 0;

		if (other == q)
			continue;
		spin_lock(&other->lock);
		has_job = !list_empty(&other->inflight);
		if (has_job)
			slot = list_first_entry(&other->inflight, struct wse_job, qnode)->slot;
		spin_unlock(&other->lock);
		if (has_job && wse_qrd(other, WSE_QREG_SQ_HEAD) != slot)
			return true;
	}
	return false;
}

/*
 * Hang detection, every quarter of job_timeout_ms while a queue has jobs.
 * The oldest job fails with TIMEOUT once it has been seen running (or not
 * served although the worker was free) for job_timeout_ms. A job that
 * waits for the device's one worker, busy with another queue's command,
 * has not started: its clock starts only once it is served, so a long job
 * of one user never times out other users' jobs on other queues.
 */
static void wse_queue_timeout_work(struct work_struct *work)
{
	struct wse_queue *q = container_of(to_delayed_work(work), struct wse_queue,
					   timeout_work);
	unsigned long now, deadline;
	struct wse_job *oldest;
	bool waiting;
	u64 seq;
	u32 slot;
	int idx;

	wse_queue_process(q);
	if (!drm_dev_enter(&q->wdev->drm, &idx))
		return;
	spin_lock(&q->lock);
	oldest = list_first_entry_or_null(&q->inflight, struct wse_job, qnode);
	if (!oldest || q->stopped) {
		spin_unlock(&q->lock);
		drm_dev_exit(idx);
		return;
	}
	seq = oldest->seq;
	slot = oldest->slot;
	spin_unlock(&q->lock);

	waiting = wse_qrd(q, WSE_QREG_SQ_HEAD) == slot && wse_worker_busy_elsewhere(q);
	drm_dev_exit(idx);

	spin_lock(&q->lock);
	oldest = list_first_entry_or_null(&q->inflight, struct wse_job, qnode);
	if (!oldest || q->stopped) {
		spin_unlock(&q->lock);
		return;
	}
	now = jiffies;
	if (oldest->seq != seq || waiting) {
		/* Completed meanwhile, or not started: no clock yet. */
		q->clock_seq = 0;
		mod_delayed_work(wse_wq, &q->timeout_work, wse_check_jiffies());
		spin_unlock(&q->lock);
		return;
	}
	if (q->clock_seq != seq) {
		q->clock_seq = seq;
		q->clock_start = now;
	}
	deadline = q->clock_start + wse_timeout_jiffies();
	if (time_before(now, deadline)) {
		mod_delayed_work(wse_wq, &q->timeout_work,
				 min(deadline - now, wse_check_jiffies()));
		spin_unlock(&q->lock);
		return;
	}
	spin_unlock(&q->lock);
	wse_queue_reset(q, true);
}

/*
 * q->lock held, after a queue reset: how many of the oldest jobs in flight
 * the device had fetched, from its SQ head read while the queue was off.
 */
static u32 wse_queue_fetched(struct wse_queue *q, u32 sq_head)
{
	struct wse_job *oldest = list_first_entry_or_null(&q->inflight, struct wse_job, qnode);
	u32 count;

	if (!oldest)
		return 0;
	count = (sq_head - oldest->slot) & (q->size - 1);
	/* A head from a device that is gone, or past the ring's jobs: all, to run none twice. */
	if (sq_head >= q->size || count > q->inflight_count)
		return q->inflight_count;
	return count;
}

/* Waits, sleeping, until a queue reset has taken effect. */
static int wse_queue_wait_reset(struct wse_queue *q)
{
	u64 timeout_us = (u64)wse_job_timeout_ms * USEC_PER_MSEC + USEC_PER_SEC;
	u32 status;
	int ret;

	ret = readl_poll_timeout(q->wdev->regs + WSE_REG_QUEUE(q->index) + WSE_QREG_STATUS,
				 status, status == U32_MAX || !(status & WSE_QSTATUS_BUSY),
				 1000, timeout_us);
	if (!ret && status == U32_MAX)
		ret = -ENODEV;
	if (ret)
		drm_err(&q->wdev->drm, "queue %u: reset did not complete\n", q->index);
	return ret;
}

static void wse_finish_list(struct list_head *jobs, u32 status)
{
	struct wse_job *job, *tmp;

	list_for_each_entry_safe(job, tmp, jobs, qnode) {
		list_del_init(&job->qnode);
		wse_job_finish(job, status, 0, 0);
	}
}

/*
 * Resets one queue. Jobs whose completions the device posted before the
 * reset end with their real status; jobs the device had fetched but not
 * completed end with ERR_ABORTED (or, with @hung, the oldest one with
 * TIMEOUT): they may have run in part or in full, so they never run again.
 * Jobs not yet fetched are written into the fresh ring, so other contexts
 * carry on. Other queues are not touched.
 */
int wse_queue_reset(struct wse_queue *q, bool hung)
{
	struct wse_device *wdev = q->wdev;
	struct wse_job *job, *tmp;
	LIST_HEAD(timed_out);
	LIST_HEAD(aborted);
	LIST_HEAD(pending);
	u64 guilty_seq = 0;
	u32 sq_head, fetched, i = 0;
	int idx, ret;

	mutex_lock(&wdev->reset_lock);
	if (!drm_dev_enter(&wdev->drm, &idx)) {
		mutex_unlock(&wdev->reset_lock);
		return -ENODEV;
	}
	spin_lock(&q->lock);
	if (q->stopped || (hung && !wse_queue_is_hung(q))) {
		spin_unlock(&q->lock);
		drm_dev_exit(idx);
		mutex_unlock(&wdev->reset_lock);
		return 0;
	}
	/* Sequence numbers start at 1: 0 matches no job. */
	if (hung)
		guilty_seq = list_first_entry(&q->inflight, struct wse_job, qnode)->seq;
	q->stopped = true;
	spin_unlock(&q->lock);

	/*
	 * Without q->lock: the reset write may not return before the device
	 * has dropped the queue's running command, which can take as long as
	 * the op record it is in. With the queue off, SQ_HEAD is final.
	 */
	might_sleep();
	wse_qwr(q, WSE_QREG_ENABLE, 0);
	sq_head = wse_qrd(q, WSE_QREG_SQ_HEAD);
	wse_qwr(q, WSE_QREG_RESET, 1);
	ret = wse_queue_wait_reset(q);
	wse_queue_process(q);

	spin_lock(&q->lock);
	if (!ret) {
		fetched = wse_queue_fetched(q, sq_head);
		list_for_each_entry_safe(job, tmp, &q->inflight, qnode) {
			if (job->seq == guilty_seq)
				list_move_tail(&job->qnode, &timed_out);
			else if (i < fetched)
				list_move_tail(&job->qnode, &aborted);
			else
				list_move_tail(&job->qnode, &pending);
			i++;
		}
		q->inflight_count = 0;
		wse_queue_program(q);
		list_for_each_entry_safe(job, tmp, &pending, qnode) {
			list_del_init(&job->qnode);
			wse_queue_push(q, job);
		}
		if (!list_empty(&q->inflight)) {
			wse_qwr(q, WSE_QREG_SQ_TAIL, q->sq_tail);
			wse_queue_arm_timeout(q);
		}
		q->stopped = false;
	}
	spin_unlock(&q->lock);
	drm_dev_exit(idx);
	/*
	 * The device may still use the buffers of the queue's jobs: they stay
	 * in flight, the queue stopped, until a device reset ends them.
	 */
	if (ret)
		queue_work(wse_wq, &wdev->reset_work);

	atomic64_inc(&wdev->resets);
	list_for_each_entry(job, &timed_out, qnode) {
		atomic64_inc(&wdev->timeouts);
		drm_warn(&wdev->drm, "queue %u: job timed out after %u ms, queue reset\n",
			 q->index, wse_job_timeout_ms);
		wse_genl_event(wdev, WSE_GENL_EVENT_JOB_TIMEOUT, q->index,
			       DRM_WSE_STATUS_TIMEOUT, job->ctx->hw_id);
	}
	wse_finish_list(&timed_out, DRM_WSE_STATUS_TIMEOUT);
	wse_finish_list(&aborted, DRM_WSE_STATUS_ERR_ABORTED);
	wse_genl_event(wdev, WSE_GENL_EVENT_QUEUE_RESET, q->index, 0, 0);
	mutex_unlock(&wdev->reset_lock);
	wake_up_all(&q->space_wq);
	return 0;
}

/* Fails every pending job of every queue; the caller stops the hardware. */
static void wse_steal_jobs(struct wse_device *wdev, struct list_head *jobs, bool stop)
{
	u32 i;

	for (i = 0; i < wdev->num_queues; i++) {
		struct wse_queue *q = &wdev->queues[i];

		spin_lock(&q->lock);
		if (stop)
			q->stopped = true;
		list_splice_tail_init(&q->inflight, jobs);
		q->inflight_count = 0;
		spin_unlock(&q->lock);
	}
}

static void wse_finish_stolen(struct wse_device *wdev, struct list_head *jobs, u32 status)
{
	u32 i;

	wse_finish_list(jobs, status);
	for (i = 0; i < wdev->num_queues; i++)
		wake_up_all(&wdev->queues[i].space_wq);
}

/*
 * Full device reset: every pending job fails with ERR_ABORTED, the tables
 * and rings are programmed again and the contexts keep their mappings.
 */
int wse_device_reset(struct wse_device *wdev)
{
	LIST_HEAD(jobs);
	int idx, ret;
	u32 i;

	mutex_lock(&wdev->reset_lock);
	if (!drm_dev_enter(&wdev->drm, &idx)) {
		mutex_unlock(&wdev->reset_lock);
		return -ENODEV;
	}
	wdev->state = WSE_STATE_RESETTING;
	for (i = 0; i < wdev->num_queues; i++) {
		spin_lock(&wdev->queues[i].lock);
		wdev->queues[i].stopped = true;
		spin_unlock(&wdev->queues[i].lock);
		wse_qwr(&wdev->queues[i], WSE_QREG_ENABLE, 0);
	}

	wse_wr(wdev, WSE_REG_CONTROL, WSE_CONTROL_RESET);
	ret = wse_wait_ready(wdev);
	/* Jobs that completed before the reset keep their result. */
	for (i = 0; i < wdev->num_queues; i++)
		wse_queue_process(&wdev->queues[i]);
	wse_steal_jobs(wdev, &jobs, true);
	if (!ret) {
		mutex_lock(&wdev->event_lock);
		wse_program_tables(wdev);
		mutex_unlock(&wdev->event_lock);
		for (i = 0; i < wdev->num_queues; i++) {
			struct wse_queue *q = &wdev->queues[i];

			spin_lock(&q->lock);
			wse_queue_program(q);
			q->stopped = false;
			spin_unlock(&q->lock);
		}
		wdev->state = WSE_STATE_READY;
	} else {
		drm_err(&wdev->drm, "device did not come back from reset\n");
		wdev->state = WSE_STATE_FATAL;
	}
	drm_dev_exit(idx);
	atomic64_inc(&wdev->resets);
	wse_finish_stolen(wdev, &jobs, DRM_WSE_STATUS_ERR_ABORTED);
	wse_genl_event(wdev, WSE_GENL_EVENT_DEVICE_RESET, 0, 0, 0);
	mutex_unlock(&wdev->reset_lock);
	return ret;
}

void wse_reset_work(struct work_struct *work)
{
	struct wse_device *wdev = container_of(work, struct wse_device, reset_work);

	wse_device_reset(wdev);
}

/* After unplug: nothing will complete any more. */
void wse_device_abort_all(struct wse_device *wdev)
{
	LIST_HEAD(jobs);

	mutex_lock(&wdev->reset_lock);
	wdev->state = WSE_STATE_GONE;
	wse_steal_jobs(wdev, &jobs, true);
	wse_finish_stolen(wdev, &jobs, DRM_WSE_STATUS_DEVICE_LOST);
	mutex_unlock(&wdev->reset_lock);
}

static void wse_handle_event(struct wse_device *wdev, const struct wse_hw_event *ev)
{
	u32 type = le32_to_cpu(ev->type), queue = le32_to_cpu(ev->queue);
	u32 context = le32_to_cpu(ev->context);
	u32 status = wse_status_to_uapi(le32_to_cpu(ev->status));
	u32 genl_event = wse_event_to_genl(type);
	struct wse_ctx *ctx;

	if (type == WSE_HW_EVENT_CQ_OVERFLOW)
		dev_warn_ratelimited(wdev->drm.dev, "queue %u: completion queue overflow\n",
				     queue);
	if (!genl_event)
		return;
	atomic64_inc(&wdev->faults);
	/* The details go to the owning context only; netlink gets no address. */
	ctx = wse_ctx_get_by_hw_id(wdev, context);
	if (ctx) {
		spin_lock(&ctx->fault_lock);
		ctx->last_fault_dva = le64_to_cpu(ev->addr);
		ctx->last_fault_status = status;
		spin_unlock(&ctx->fault_lock);
		atomic64_inc(&ctx->faults);
		wse_ctx_put(ctx);
	}
	wse_genl_event(wdev, genl_event, queue, status, context);
}

/* event_lock held: handles the events the device has posted so far. */
void wse_events_process(struct wse_device *wdev)
{
	u32 tail, status;
	int idx;

	lockdep_assert_held(&wdev->event_lock);
	if (!drm_dev_enter(&wdev->drm, &idx))
		return;
	tail = wse_rd(wdev, WSE_REG_EVQ_TAIL);
	if (tail != U32_MAX) {
		tail &= WSE_EVQ_ENTRIES - 1;
		dma_rmb();
		while (wdev->evq_head != tail) {
			struct wse_hw_event ev = wdev->evq[wdev->evq_head];

			wse_handle_event(wdev, &ev);
			wdev->evq_head = (wdev->evq_head + 1) & (WSE_EVQ_ENTRIES - 1);
		}
		wse_wr(wdev, WSE_REG_EVQ_HEAD, wdev->evq_head);
		status = wse_rd(wdev, WSE_REG_STATUS);
		if (status != U32_MAX && (status & WSE_HW_DEV_FATAL))
			queue_work(wse_wq, &wdev->reset_work);
	}
	drm_dev_exit(idx);
}

static irqreturn_t wse_event_irq(int irq, void *arg)
{
	struct wse_device *wdev = arg;

	mutex_lock(&wdev->event_lock);
	wse_events_process(wdev);
	mutex_unlock(&wdev->event_lock);
	return IRQ_HANDLED;
}

int wse_irq_init(struct wse_device *wdev)
{
	struct pci_dev *pdev = wdev->pdev;
	u32 nvec = WSE_MSIX_VECTORS(wdev->num_queues), i;
	int ret;

	ret = pci_alloc_irq_vectors(pdev, nvec, nvec, PCI_IRQ_MSIX);
	if (ret < 0) {
		drm_err(&wdev->drm, "cannot get %u MSI-X vectors: %d\n", nvec, ret);
		return ret;
	}
	for (i = 0; i < wdev->num_queues; i++) {
		struct wse_queue *q = &wdev->queues[i];

		q->irq = pci_irq_vector(pdev, i);
		ret = request_threaded_irq(q->irq, NULL, wse_queue_irq, IRQF_ONESHOT,
					   WSE_DRIVER_NAME, q);
		if (ret) {
			q->irq = 0;
			goto fail;
		}
	}
	wdev->event_irq = pci_irq_vector(pdev, WSE_MSIX_EVENT_VECTOR(wdev->num_queues));
	ret = request_threaded_irq(wdev->event_irq, NULL, wse_event_irq, IRQF_ONESHOT,
				   WSE_DRIVER_NAME, wdev);
	if (ret) {
		wdev->event_irq = 0;
		goto fail;
	}
	return 0;
fail:
	wse_irq_fini(wdev);
	return ret;
}

void wse_irq_fini(struct wse_device *wdev)
{
	u32 i;

	for (i = 0; i < wdev->num_queues; i++) {
		if (wdev->queues[i].irq)
			free_irq(wdev->queues[i].irq, &wdev->queues[i]);
		wdev->queues[i].irq = 0;
	}
	if (wdev->event_irq)
		free_irq(wdev->event_irq, wdev);
	wdev->event_irq = 0;
	pci_free_irq_vectors(wdev->pdev);
}

void wse_queue_init_sw(struct wse_device *wdev, u32 index)
{
	struct wse_queue *q = &wdev->queues[index];

	q->wdev = wdev;
	q->index = index;
	q->size = wse_queue_depth;
	spin_lock_init(&q->lock);
	INIT_LIST_HEAD(&q->inflight);
	init_waitqueue_head(&q->space_wq);
	INIT_DELAYED_WORK(&q->timeout_work, wse_queue_timeout_work);
	q->next_seq = 1;
}
