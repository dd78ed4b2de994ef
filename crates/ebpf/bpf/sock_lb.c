/* Socket-level service load balancing (east-west, kube-proxy replacement).
 *
 * cgroup/connect4 and cgroup/sendmsg4 rewrite a service VIP:port to a backend
 * before any packet exists, so there is no per-packet NAT. The choice is
 * remembered per socket cookie in portico_lb4_reverse_sk, which recvmsg4
 * (UDP replies) and getpeername4 use to show the VIP again.
 */
#include "lb.h"

#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define NSEC_PER_SEC 1000000000ULL

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline __u64 mix64(__u64 h)
{
	/* murmur3 fmix64: spreads the socket cookie over the Maglev table */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static __always_inline int sock_proto(struct bpf_sock_addr *ctx, __u8 *proto)
{
	if (ctx->type == SOCK_STREAM)
		*proto = IPPROTO_TCP;
	else if (ctx->type == SOCK_DGRAM)
		*proto = IPPROTO_UDP;
	else
		return -1;
	return 0;
}

static __always_inline __u32 pick_backend(struct bpf_sock_addr *ctx, struct lb4_key *key,
					  const struct lb4_service *svc)
{
	struct lb_affinity_key akey = {};
	struct lb_affinity_value *aval;
	struct lb4_service *slot;
	struct lb_maglev *table;
	__u16 rev_nat_id = svc->rev_nat_id;
	__u16 count = svc->count;
	__u64 now = 0;
	__u32 id = 0;

	if (svc->flags & LB_FLAG_AFFINITY) {
		now = bpf_ktime_get_ns();
		akey.netns_cookie = bpf_get_netns_cookie(ctx);
		akey.rev_nat_id = rev_nat_id;
		aval = bpf_map_lookup_elem(&portico_lb_affinity, &akey);
		if (aval && now - aval->last_used_ns <= (__u64)svc->affinity_timeout * NSEC_PER_SEC) {
			struct lb4_backend *be = bpf_map_lookup_elem(&portico_lb4_backends, &aval->backend_id);
			if (be && be->state == LB_BACKEND_ACTIVE)
				id = aval->backend_id;
		}
	}
	if (!id && svc->algorithm == LB_ALG_MAGLEV) {
		table = bpf_map_lookup_elem(&portico_lb4_maglev, &rev_nat_id);
		if (table) {
			__u32 idx = mix64(bpf_get_socket_cookie(ctx)) % LB_MAGLEV_SIZE;
			/* clang lowers % to div/mul/sub, which loses the bound: hide
			 * idx from the optimiser and check it where the verifier sees. */
			asm volatile("" : "+r"(idx));
			if (idx < LB_MAGLEV_SIZE)
				id = table->backend_ids[idx];
		}
	}
	if (!id) {
		key->slot = (bpf_get_prandom_u32() % count) + 1;
		slot = bpf_map_lookup_elem(&portico_lb4_services, key);
		key->slot = 0;
		if (!slot)
			return 0;
		id = slot->backend_id;
	}
	if (svc->flags & LB_FLAG_AFFINITY) {
		struct lb_affinity_value v = { .last_used_ns = now, .backend_id = id };
		bpf_map_update_elem(&portico_lb_affinity, &akey, &v, BPF_ANY);
	}
	return id;
}

static __always_inline void emit(struct bpf_sock_addr *ctx, const struct lb4_key *key, __u8 hook,
				 __u16 rev_nat_id, __u32 backend_id, const struct lb4_backend *be,
				 __u8 reason)
{
	struct lb_event ev = {
		.ts_ns = bpf_ktime_get_ns(),
		.sock_cookie = bpf_get_socket_cookie(ctx),
		.netns_cookie = bpf_get_netns_cookie(ctx),
		.vip = key->address,
		.vport = key->dport,
		.backend_id = backend_id,
		.rev_nat_id = rev_nat_id,
		.proto = key->proto,
		.hook = hook,
		.verdict = reason == LB_DROP_NONE ? LB_EVENT_TRANSLATED : LB_EVENT_DROPPED,
		.reason = reason,
	};
	if (be) {
		ev.backend_address = be->address;
		ev.backend_port = be->port;
	}
	/* A full ring (no reader) just loses the event. */
	bpf_ringbuf_output(&portico_lb_events, &ev, sizeof(ev), 0);
}

/* Returns 1 to let the call proceed (rewritten or not), 0 to refuse it. */
static __always_inline int sock4_forward(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct lb4_key key = {};
	struct lb4_service *svc;
	struct lb4_backend *be;
	__u32 id;
	__u8 proto;

	if (sock_proto(ctx, &proto))
		return 1;
	key.address = ctx->user_ip4;
	key.dport = (__be16)ctx->user_port;
	key.proto = proto;
	svc = bpf_map_lookup_elem(&portico_lb4_services, &key);
	if (!svc)
		return 1;
	/* A service without backends refuses at once instead of timing out. */
	if (svc->count == 0) {
		emit(ctx, &key, hook, svc->rev_nat_id, 0, NULL, LB_DROP_NO_BACKENDS);
		return 0;
	}
	id = pick_backend(ctx, &key, svc);
	be = id ? bpf_map_lookup_elem(&portico_lb4_backends, &id) : NULL;
	if (!be) {
		emit(ctx, &key, hook, svc->rev_nat_id, id, NULL, LB_DROP_BACKEND_MISSING);
		return 0;
	}
	emit(ctx, &key, hook, svc->rev_nat_id, id, be, LB_DROP_NONE);

	struct lb4_reverse_sk_key rkey = {
		.cookie = bpf_get_socket_cookie(ctx),
		.address = be->address,
		.port = be->port,
	};
	struct lb4_reverse_sk_value rval = {
		.address = key.address,
		.port = key.dport,
		.rev_nat_id = svc->rev_nat_id,
	};
	bpf_map_update_elem(&portico_lb4_reverse_sk, &rkey, &rval, BPF_ANY);

	ctx->user_ip4 = be->address;
	ctx->user_port = (__u32)be->port;
	return 1;
}

static __always_inline void sock4_reverse(struct bpf_sock_addr *ctx)
{
	struct lb4_reverse_sk_key rkey = {
		.cookie = bpf_get_socket_cookie(ctx),
		.address = ctx->user_ip4,
		.port = (__be16)ctx->user_port,
	};
	struct lb4_reverse_sk_value *rval;

	rval = bpf_map_lookup_elem(&portico_lb4_reverse_sk, &rkey);
	if (!rval)
		return;
	/* Only while the service still exists (its rev-NAT entry is live). */
	if (!bpf_map_lookup_elem(&portico_lb4_reverse_nat, &rval->rev_nat_id))
		return;
	ctx->user_ip4 = rval->address;
	ctx->user_port = (__u32)rval->port;
}

SEC("cgroup/connect4")
int portico_connect4(struct bpf_sock_addr *ctx)
{
	return sock4_forward(ctx, LB_HOOK_CONNECT4);
}

SEC("cgroup/sendmsg4")
int portico_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock4_forward(ctx, LB_HOOK_SENDMSG4);
}

SEC("cgroup/recvmsg4")
int portico_recvmsg4(struct bpf_sock_addr *ctx)
{
	sock4_reverse(ctx);
	return 1;
}

SEC("cgroup/getpeername4")
int portico_getpeername4(struct bpf_sock_addr *ctx)
{
	sock4_reverse(ctx);
	return 1;
}
