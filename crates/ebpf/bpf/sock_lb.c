/* Socket-level service load balancing (east-west, kube-proxy replacement).
 *
 * cgroup/connect{4,6} and cgroup/sendmsg{4,6} rewrite a service VIP:port to a
 * backend before any packet exists, so there is no per-packet NAT. The choice
 * is remembered per socket cookie in portico_lb{4,6}_reverse_sk, which
 * recvmsg (UDP replies) and getpeername use to show the VIP again.
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

static __always_inline int backend_active(__u32 id, __u8 family)
{
	if (family == LB_FAMILY_V4) {
		struct lb4_backend *be = bpf_map_lookup_elem(&portico_lb4_backends, &id);
		return be && be->state == LB_BACKEND_ACTIVE;
	}
	struct lb6_backend *be = bpf_map_lookup_elem(&portico_lb6_backends, &id);
	return be && be->state == LB_BACKEND_ACTIVE;
}

/* Session affinity, then Maglev: a backend id, or 0 to pick a random slot. */
static __always_inline __u32 pick_sticky(struct bpf_sock_addr *ctx, const struct lb_service *svc,
					 __u8 family, struct lb_affinity_key *akey, __u64 *now)
{
	struct lb_affinity_value *aval;
	struct lb_maglev *table;
	__u16 rev_nat_id = svc->rev_nat_id;

	if (svc->flags & LB_FLAG_AFFINITY) {
		*now = bpf_ktime_get_ns();
		akey->netns_cookie = bpf_get_netns_cookie(ctx);
		akey->rev_nat_id = rev_nat_id;
		aval = bpf_map_lookup_elem(&portico_lb_affinity, akey);
		if (aval && *now - aval->last_used_ns <= (__u64)svc->affinity_timeout * NSEC_PER_SEC &&
		    backend_active(aval->backend_id, family))
			return aval->backend_id;
	}
	if (svc->algorithm == LB_ALG_MAGLEV) {
		table = bpf_map_lookup_elem(&portico_lb_maglev, &rev_nat_id);
		if (table) {
			__u32 idx = mix64(bpf_get_socket_cookie(ctx)) % LB_MAGLEV_SIZE;
			/* clang lowers % to div/mul/sub, which loses the bound: hide
			 * idx from the optimiser and check it where the verifier sees. */
			asm volatile("" : "+r"(idx));
			if (idx < LB_MAGLEV_SIZE)
				return table->backend_ids[idx];
		}
	}
	return 0;
}

static __always_inline void remember(const struct lb_service *svc, struct lb_affinity_key *akey,
				     __u64 now, __u32 id)
{
	if (svc->flags & LB_FLAG_AFFINITY) {
		struct lb_affinity_value v = { .last_used_ns = now, .backend_id = id };
		bpf_map_update_elem(&portico_lb_affinity, akey, &v, BPF_ANY);
	}
}

static __always_inline void emit(struct bpf_sock_addr *ctx, const __u32 *vip, __be16 vport,
				 __u8 proto, __u8 family, __u8 hook, __u16 rev_nat_id,
				 __u32 backend_id, const __u32 *be_addr, __be16 be_port, __u8 reason)
{
	struct lb_event ev = {
		.ts_ns = bpf_ktime_get_ns(),
		.sock_cookie = bpf_get_socket_cookie(ctx),
		.netns_cookie = bpf_get_netns_cookie(ctx),
		.vport = vport,
		.backend_port = be_port,
		.backend_id = backend_id,
		.rev_nat_id = rev_nat_id,
		.proto = proto,
		.hook = hook,
		.verdict = reason == LB_DROP_NONE ? LB_EVENT_TRANSLATED : LB_EVENT_DROPPED,
		.reason = reason,
		.family = family,
	};
	int words = family == LB_FAMILY_V4 ? 1 : 4;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i < words) {
			ev.vip[i] = vip[i];
			if (be_addr)
				ev.backend_address[i] = be_addr[i];
		}
	}
	/* A full ring (no reader) just loses the event. */
	bpf_ringbuf_output(&portico_lb_events, &ev, sizeof(ev), 0);
}

/* ---- IPv4 ---- */

/* Returns 1 to let the call proceed (rewritten or not), 0 to refuse it. */
static __always_inline int sock4_forward(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct lb_affinity_key akey = {};
	struct lb4_key key = {};
	struct lb_service *svc, *slot;
	struct lb4_backend *be = NULL;
	__u64 now = 0;
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
		emit(ctx, &key.address, key.dport, proto, LB_FAMILY_V4, hook, svc->rev_nat_id, 0,
		     NULL, 0, LB_DROP_NO_BACKENDS);
		return 0;
	}
	id = pick_sticky(ctx, svc, LB_FAMILY_V4, &akey, &now);
	if (!id) {
		key.slot = (bpf_get_prandom_u32() % svc->count) + 1;
		slot = bpf_map_lookup_elem(&portico_lb4_services, &key);
		key.slot = 0;
		id = slot ? slot->backend_id : 0;
	}
	if (id)
		be = bpf_map_lookup_elem(&portico_lb4_backends, &id);
	if (!be) {
		emit(ctx, &key.address, key.dport, proto, LB_FAMILY_V4, hook, svc->rev_nat_id, id,
		     NULL, 0, LB_DROP_BACKEND_MISSING);
		return 0;
	}
	remember(svc, &akey, now, id);
	emit(ctx, &key.address, key.dport, proto, LB_FAMILY_V4, hook, svc->rev_nat_id, id,
	     &be->address, be->port, LB_DROP_NONE);

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
	if (!bpf_map_lookup_elem(&portico_lb_reverse_nat, &rval->rev_nat_id))
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

/* ---- IPv6 ---- */

static __always_inline int sock6_forward(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct lb_affinity_key akey = {};
	struct lb6_key key = {};
	struct lb_service *svc, *slot;
	struct lb6_backend *be = NULL;
	__u64 now = 0;
	__u32 id;
	__u8 proto;

	if (sock_proto(ctx, &proto))
		return 1;
	/* user_ip6 allows only 4-byte accesses */
	key.address[0] = ctx->user_ip6[0];
	key.address[1] = ctx->user_ip6[1];
	key.address[2] = ctx->user_ip6[2];
	key.address[3] = ctx->user_ip6[3];
	key.dport = (__be16)ctx->user_port;
	key.proto = proto;
	svc = bpf_map_lookup_elem(&portico_lb6_services, &key);
	if (!svc)
		return 1;
	if (svc->count == 0) {
		emit(ctx, key.address, key.dport, proto, LB_FAMILY_V6, hook, svc->rev_nat_id, 0,
		     NULL, 0, LB_DROP_NO_BACKENDS);
		return 0;
	}
	id = pick_sticky(ctx, svc, LB_FAMILY_V6, &akey, &now);
	if (!id) {
		key.slot = (bpf_get_prandom_u32() % svc->count) + 1;
		slot = bpf_map_lookup_elem(&portico_lb6_services, &key);
		key.slot = 0;
		id = slot ? slot->backend_id : 0;
	}
	if (id)
		be = bpf_map_lookup_elem(&portico_lb6_backends, &id);
	if (!be) {
		emit(ctx, key.address, key.dport, proto, LB_FAMILY_V6, hook, svc->rev_nat_id, id,
		     NULL, 0, LB_DROP_BACKEND_MISSING);
		return 0;
	}
	remember(svc, &akey, now, id);
	emit(ctx, key.address, key.dport, proto, LB_FAMILY_V6, hook, svc->rev_nat_id, id,
	     be->address, be->port, LB_DROP_NONE);

	struct lb6_reverse_sk_key rkey = {
		.cookie = bpf_get_socket_cookie(ctx),
		.port = be->port,
	};
	struct lb6_reverse_sk_value rval = {
		.port = key.dport,
		.rev_nat_id = svc->rev_nat_id,
	};
	__builtin_memcpy(rkey.address, be->address, 16);
	__builtin_memcpy(rval.address, key.address, 16);
	bpf_map_update_elem(&portico_lb6_reverse_sk, &rkey, &rval, BPF_ANY);

	ctx->user_ip6[0] = be->address[0];
	ctx->user_ip6[1] = be->address[1];
	ctx->user_ip6[2] = be->address[2];
	ctx->user_ip6[3] = be->address[3];
	ctx->user_port = (__u32)be->port;
	return 1;
}

static __always_inline void sock6_reverse(struct bpf_sock_addr *ctx)
{
	struct lb6_reverse_sk_key rkey = {
		.cookie = bpf_get_socket_cookie(ctx),
		.port = (__be16)ctx->user_port,
	};
	struct lb6_reverse_sk_value *rval;

	rkey.address[0] = ctx->user_ip6[0];
	rkey.address[1] = ctx->user_ip6[1];
	rkey.address[2] = ctx->user_ip6[2];
	rkey.address[3] = ctx->user_ip6[3];
	rval = bpf_map_lookup_elem(&portico_lb6_reverse_sk, &rkey);
	if (!rval)
		return;
	if (!bpf_map_lookup_elem(&portico_lb_reverse_nat, &rval->rev_nat_id))
		return;
	ctx->user_ip6[0] = rval->address[0];
	ctx->user_ip6[1] = rval->address[1];
	ctx->user_ip6[2] = rval->address[2];
	ctx->user_ip6[3] = rval->address[3];
	ctx->user_port = (__u32)rval->port;
}

SEC("cgroup/connect6")
int portico_connect6(struct bpf_sock_addr *ctx)
{
	return sock6_forward(ctx, LB_HOOK_CONNECT6);
}

SEC("cgroup/sendmsg6")
int portico_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock6_forward(ctx, LB_HOOK_SENDMSG6);
}

SEC("cgroup/recvmsg6")
int portico_recvmsg6(struct bpf_sock_addr *ctx)
{
	sock6_reverse(ctx);
	return 1;
}

SEC("cgroup/getpeername6")
int portico_getpeername6(struct bpf_sock_addr *ctx)
{
	sock6_reverse(ctx);
	return 1;
}
