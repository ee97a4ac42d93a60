// SPDX-License-Identifier: GPL-2.0-only
/*
 * Generic netlink family "wse": device status and counters on request, and
 * the "events" multicast group (job timeout, resets, faults, SRAM and DMA
 * errors). Events carry no device addresses: those go to the owning context
 * only (CTX_INFO).
 */
#include <linux/list.h>
#include <linux/mutex.h>
#include <net/genetlink.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>

#include "wse_drv.h"

static LIST_HEAD(wse_devices);
static DEFINE_MUTEX(wse_devices_lock);

static const struct nla_policy wse_genl_policy[WSE_GENL_A_MAX + 1] = {
	[WSE_GENL_A_DEV_INDEX] = { .type = NLA_U32 },
};

static int wse_genl_get_device(struct sk_buff *skb, struct genl_info *info);
static int wse_genl_dump_devices(struct sk_buff *skb, struct netlink_callback *cb);

static const struct genl_ops wse_genl_ops[] = {
	{
		.cmd = WSE_GENL_CMD_GET_DEVICE,
		.doit = wse_genl_get_device,
		.dumpit = wse_genl_dump_devices,
	},
};

static const struct genl_multicast_group wse_genl_mcgrps[] = {
	{ .name = WSE_GENL_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_NET_ADMIN },
};

static struct genl_family wse_genl_family __ro_after_init = {
	.name = WSE_GENL_NAME,
	.version = WSE_GENL_VERSION,
	.maxattr = WSE_GENL_A_MAX,
	.policy = wse_genl_policy,
	.module = THIS_MODULE,
	.ops = wse_genl_ops,
	.n_ops = ARRAY_SIZE(wse_genl_ops),
	.mcgrps = wse_genl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(wse_genl_mcgrps),
};

static u32 wse_dev_index(struct wse_device *wdev)
{
	return wdev->drm.accel ? wdev->drm.accel->index : 0;
}

static int wse_genl_fill(struct sk_buff *skb, struct wse_device *wdev, u32 portid,
			 u32 seq, int flags)
{
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &wse_genl_family, flags, WSE_GENL_CMD_GET_DEVICE);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, WSE_GENL_A_DEV_INDEX, wse_dev_index(wdev)) ||
	    nla_put_string(skb, WSE_GENL_A_PCI_NAME, pci_name(wdev->pdev)) ||
	    nla_put_u32(skb, WSE_GENL_A_STATE, READ_ONCE(wdev->state)) ||
	    nla_put_u64_64bit(skb, WSE_GENL_A_SRAM_TOTAL, wdev->sram_size, WSE_GENL_A_PAD) ||
	    nla_put_u64_64bit(skb, WSE_GENL_A_SRAM_USED, wse_sram_used(wdev), WSE_GENL_A_PAD) ||
	    nla_put_u32(skb, WSE_GENL_A_QUEUES, wdev->num_queues) ||
	    nla_put_u64_64bit(skb, WSE_GENL_A_JOBS_DONE, atomic64_read(&wdev->jobs_done),
			      WSE_GENL_A_PAD) ||
	    nla_put_u64_64bit(skb, WSE_GENL_A_FAULTS, atomic64_read(&wdev->faults),
			      WSE_GENL_A_PAD) ||
	    nla_put_u64_64bit(skb, WSE_GENL_A_RESETS, atomic64_read(&wdev->resets),
			      WSE_GENL_A_PAD) ||
	    nla_put_u64_64bit(skb, WSE_GENL_A_TIMEOUTS, atomic64_read(&wdev->timeouts),
			      WSE_GENL_A_PAD) ||
	    nla_put_u32(skb, WSE_GENL_A_GRID_W, wdev->grid_w) ||
	    nla_put_u32(skb, WSE_GENL_A_GRID_H, wdev->grid_h) ||
	    nla_put_u32(skb, WSE_GENL_A_CONTEXTS, wse_contexts_in_use(wdev))) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int wse_genl_get_device(struct sk_buff *skb, struct genl_info *info)
{
	struct wse_device *wdev, *found = NULL;
	struct sk_buff *msg;
	u32 index;
	int ret;

	if (!info->attrs[WSE_GENL_A_DEV_INDEX])
		return -EINVAL;
	index = nla_get_u32(info->attrs[WSE_GENL_A_DEV_INDEX]);
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&wse_devices_lock);
	list_for_each_entry(wdev, &wse_devices, node) {
		if (wse_dev_index(wdev) == index) {
			found = wdev;
			break;
		}
	}
	ret = found ? wse_genl_fill(msg, found, info->snd_portid, info->snd_seq, 0) : -ENODEV;
	mutex_unlock(&wse_devices_lock);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	return genlmsg_reply(msg, info);
}

static int wse_genl_dump_devices(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct wse_device *wdev;
	long skip = cb->args[0], n = 0;

	mutex_lock(&wse_devices_lock);
	list_for_each_entry(wdev, &wse_devices, node) {
		if (n++ < skip)
			continue;
		if (wse_genl_fill(skb, wdev, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				  NLM_F_MULTI)) {
			n--;
			break;
		}
	}
	mutex_unlock(&wse_devices_lock);
	cb->args[0] = n;
	return skb->len;
}

void wse_genl_event(struct wse_device *wdev, u32 event, u32 queue, u32 status, u32 context)
{
	struct sk_buff *msg;
	void *hdr;

	if (!genl_has_listeners(&wse_genl_family, &init_net, 0))
		return;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &wse_genl_family, 0, WSE_GENL_CMD_EVENT);
	if (!hdr)
		goto fail;
	if (nla_put_u32(msg, WSE_GENL_A_DEV_INDEX, wse_dev_index(wdev)) ||
	    nla_put_string(msg, WSE_GENL_A_PCI_NAME, pci_name(wdev->pdev)) ||
	    nla_put_u32(msg, WSE_GENL_A_EVENT, event) ||
	    nla_put_u32(msg, WSE_GENL_A_EVENT_QUEUE, queue) ||
	    nla_put_u32(msg, WSE_GENL_A_EVENT_STATUS, status) ||
	    nla_put_u32(msg, WSE_GENL_A_EVENT_CONTEXT, context))
		goto fail;
	genlmsg_end(msg, hdr);
	genlmsg_multicast(&wse_genl_family, msg, 0, 0, GFP_KERNEL);
	return;
fail:
	nlmsg_free(msg);
}

void wse_genl_add_device(struct wse_device *wdev)
{
	mutex_lock(&wse_devices_lock);
	list_add_tail(&wdev->node, &wse_devices);
	mutex_unlock(&wse_devices_lock);
}

void wse_genl_remove_device(struct wse_device *wdev)
{
	mutex_lock(&wse_devices_lock);
	list_del_init(&wdev->node);
	mutex_unlock(&wse_devices_lock);
}

int wse_genl_register(void)
{
	return genl_register_family(&wse_genl_family);
}

void wse_genl_unregister(void)
{
	genl_unregister_family(&wse_genl_family);
}
