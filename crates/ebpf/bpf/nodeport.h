/* North-south load balancing shared by the tc programs (nodeport.c) and the
 * XDP program (nodeport_xdp.c): packet parsing, the conntrack and SNAT maps,
 * backend selection (conntrack, then Maglev over the 5-tuple or a random
 * weighted slot) and flow events. Only the packet rewrite differs: tc uses
 * the skb checksum helpers, XDP writes the headers directly.
 *
 * IPv4 (IP header without options) and IPv6 (TCP/UDP directly after the
 * fixed header, no extension headers); fragments and other protocols pass.
 */
#ifndef PORTICO_NODEPORT_H
#define PORTICO_NODEPORT_H

#include "lb.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define L4_OFF (ETH_HLEN + sizeof(struct iphdr))
#define TCP_CSUM_OFF (L4_OFF + offsetof(struct tcphdr, check))
#define UDP_CSUM_OFF (L4_OFF + offsetof(struct udphdr, check))

/* Flow as the client sent it: client → VIP. */
struct ct4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct ct4_entry {
	__u32 backend_id;
	__u16 rev_nat_id;
	__be16 snat_port; /* 0 without SNAT */
};

/* SNAT: (backend, node address and port) → the client. */
struct snat4_key {
	__be32 backend;
	__be32 node;
	__be16 backend_port;
	__be16 node_port;
	__u8 proto;
	__u8 pad[3];
};

struct snat4_value {
	__be32 client;
	__be16 client_port;
	__u16 pad;
};

/* Reply as the backend sends it: backend → client, mapped back to the VIP. */
struct ct4_reverse {
	__be32 vip;
	__be16 vport;
	__u16 rev_nat_id;
};

PINNED_LRU(portico_ct4, struct ct4_key, struct ct4_entry, 65536);
PINNED_LRU(portico_ct4_reverse, struct ct4_key, struct ct4_reverse, 65536);
PINNED_LRU(portico_snat4, struct snat4_key, struct snat4_value, 65536);

static __always_inline __u32 flow_hash(const struct ct4_key *k)
{
	/* jhash-style mix of the 5-tuple: stable for the flow's lifetime */
	__u32 a = k->saddr, b = k->daddr, c = ((__u32)k->sport << 16) | k->dport;

	a ^= k->proto;
	a -= c; a ^= (c << 4) | (c >> 28); c += b;
	b -= a; b ^= (a << 6) | (a >> 26); a += c;
	c -= b; c ^= (b << 8) | (b >> 24); b += a;
	a -= c; a ^= (c << 16) | (c >> 16); c += b;
	b -= a; b ^= (a << 19) | (a >> 13); a += c;
	c -= b; c ^= (b << 4) | (b >> 28); b += a;
	return c;
}

struct parsed {
	struct iphdr *ip;
	__be16 *ports; /* [sport, dport] */
	__u32 csum_off;
	__u8 proto;
};

/* Parses [data, data_end) as Ethernet + IPv4 + TCP/UDP ports. */
static __always_inline int parse(void *data, void *data_end, struct parsed *p)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	p->ip = (void *)(eth + 1);
	if ((void *)(p->ip + 1) > data_end || p->ip->ihl != 5)
		return -1;
	if (p->ip->frag_off & bpf_htons(0x3fff)) /* fragments: not ours */
		return -1;
	p->proto = p->ip->protocol;
	if (p->proto == IPPROTO_TCP)
		p->csum_off = TCP_CSUM_OFF;
	else if (p->proto == IPPROTO_UDP)
		p->csum_off = UDP_CSUM_OFF;
	else
		return -1;
	p->ports = (void *)(p->ip + 1);
	if ((void *)(p->ports + 2) > data_end)
		return -1;
	return 0;
}

static __always_inline void ct_key(const struct parsed *p, struct ct4_key *ct)
{
	ct->saddr = p->ip->saddr;
	ct->daddr = p->ip->daddr;
	ct->sport = p->ports[0];
	ct->dport = p->ports[1];
	ct->proto = p->proto;
}

static __always_inline void emit(const struct ct4_key *ct, __u8 hook, __u16 rev_nat_id,
				 __u32 backend_id, const struct lb4_backend *be, __u8 reason)
{
	struct lb_event ev = {
		.ts_ns = bpf_ktime_get_ns(),
		.vport = ct->dport,
		.backend_id = backend_id,
		.rev_nat_id = rev_nat_id,
		.proto = ct->proto,
		.hook = hook,
		.verdict = reason == LB_DROP_NONE ? LB_EVENT_TRANSLATED : LB_EVENT_DROPPED,
		.reason = reason,
		.family = LB_FAMILY_V4,
		.sport = ct->sport,
	};
	ev.vip[0] = ct->daddr;
	ev.saddr[0] = ct->saddr;
	if (be) {
		ev.backend_address[0] = be->address;
		ev.backend_port = be->port;
	}
	bpf_ringbuf_output(&portico_lb_events, &ev, sizeof(ev), 0);
}

/* Whether the kernel would deliver (not forward) a packet to `daddr`: the
 * destination is one of this node's addresses. NodePort frontends (the
 * unspecified address in the services map) match only such packets, so
 * traffic the node merely routes is left alone. Needs forwarding on (as
 * north-south does anyway); otherwise the lookup answers FWD_DISABLED. */
static __always_inline int local_dest4(void *ctx, __u32 ifindex, const struct ct4_key *ct)
{
	struct bpf_fib_lookup fib = {
		.family = 2, /* AF_INET */
		.l4_protocol = ct->proto,
		.sport = ct->sport,
		.dport = ct->dport,
		.ifindex = ifindex,
		.ipv4_src = ct->saddr,
		.ipv4_dst = ct->daddr,
	};

	return bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_NOT_FWDED;
}

/* A backend id for a new flow of `svc`: its Maglev slot for `hash`, or a
 * uniformly random slot (`skey` is the frontend's services-map key in
 * `services`, `slot` its slot field). 0 when the map holds none. */
static __always_inline __u32 pick_backend(const struct lb_service *svc, __u32 hash, void *services,
					  void *skey, __u16 *slot)
{
	struct lb_service *entry;
	__u32 id = 0;

	if (svc->algorithm == LB_ALG_MAGLEV) {
		__u16 rev = svc->rev_nat_id;
		struct lb_maglev *table = bpf_map_lookup_elem(&portico_lb_maglev, &rev);
		if (table) {
			__u32 idx = hash % LB_MAGLEV_SIZE;
			asm volatile("" : "+r"(idx));
			if (idx < LB_MAGLEV_SIZE)
				id = table->backend_ids[idx];
		}
	}
	if (id)
		return id;
	*slot = (bpf_get_prandom_u32() % svc->count) + 1;
	entry = bpf_map_lookup_elem(services, skey);
	return entry ? entry->backend_id : 0;
}

#define NP_PASS 0    /* not a service frontend: leave the packet alone */
#define NP_DROP 1    /* a frontend without a usable backend */
#define NP_FORWARD 2 /* DNAT to *be */

/* The backend of the flow `ct`: its conntrack entry while that backend
 * exists (also while it is terminating), else a new choice for the frontend
 * (the destination, or a NodePort on a local destination): Maglev over the
 * 5-tuple, or a uniformly random slot (slots repeat each backend by its
 * weight; terminating backends hold none). A new flow gets a conntrack
 * entry, a reverse entry for its replies and one trace event. */
static __always_inline int select_backend(void *ctx, __u32 ifindex, const struct ct4_key *ct,
					  __u8 hook, struct lb4_backend **out)
{
	struct lb4_key skey = {};
	struct ct4_entry *entry, fresh = {};
	struct lb_service *svc;
	struct lb4_backend *be = NULL;
	__u32 id = 0;

	entry = bpf_map_lookup_elem(&portico_ct4, ct);
	if (entry) {
		id = entry->backend_id;
		be = bpf_map_lookup_elem(&portico_lb4_backends, &id);
		/* A removed backend: the flow is lost, choose again below. */
		if (be)
			fresh = *entry;
	}
	if (!be) {
		skey.address = ct->daddr;
		skey.dport = ct->dport;
		skey.proto = ct->proto;
		svc = bpf_map_lookup_elem(&portico_lb4_services, &skey);
		if (!svc) {
			/* A NodePort: any of the node's own addresses. */
			skey.address = 0;
			svc = bpf_map_lookup_elem(&portico_lb4_services, &skey);
			if (!svc || !(svc->flags & LB_FLAG_NODEPORT) || !local_dest4(ctx, ifindex, ct))
				return NP_PASS;
		}
		if (svc->count == 0) {
			emit(ct, hook, svc->rev_nat_id, 0, NULL, LB_DROP_NO_BACKENDS);
			return NP_DROP;
		}
		fresh.rev_nat_id = svc->rev_nat_id;
		id = pick_backend(svc, flow_hash(ct), &portico_lb4_services, &skey, &skey.slot);
		be = id ? bpf_map_lookup_elem(&portico_lb4_backends, &id) : NULL;
		if (!be) {
			emit(ct, hook, fresh.rev_nat_id, id, NULL, LB_DROP_BACKEND_MISSING);
			return NP_DROP;
		}
		/* One trace event per new flow (established ones hit conntrack). */
		emit(ct, hook, fresh.rev_nat_id, id, be, LB_DROP_NONE);
		fresh.backend_id = id;
		bpf_map_update_elem(&portico_ct4, ct, &fresh, BPF_ANY);
	}

	struct ct4_key rkey = {
		.saddr = be->address,
		.daddr = ct->saddr,
		.sport = be->port,
		.dport = ct->sport,
		.proto = ct->proto,
	};
	struct ct4_reverse rval = {
		.vip = ct->daddr,
		.vport = ct->dport,
		.rev_nat_id = fresh.rev_nat_id,
	};
	bpf_map_update_elem(&portico_ct4_reverse, &rkey, &rval, BPF_ANY);
	*out = be;
	return NP_FORWARD;
}

/* ---- IPv6 ---- */

#define IP6_SRC_OFF (ETH_HLEN + offsetof(struct ipv6hdr, saddr))
#define IP6_DST_OFF (ETH_HLEN + offsetof(struct ipv6hdr, daddr))
#define L4_OFF6 (ETH_HLEN + sizeof(struct ipv6hdr))

struct ct6_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct ct6_reverse {
	__u32 vip[4];
	__be16 vport;
	__u16 rev_nat_id;
};

/* The entry is the IPv4 one (backend id, rev-NAT id; no SNAT for IPv6). */
PINNED_LRU(portico_ct6, struct ct6_key, struct ct4_entry, 65536);
PINNED_LRU(portico_ct6_reverse, struct ct6_key, struct ct6_reverse, 65536);

struct parsed6 {
	struct ipv6hdr *ip;
	__be16 *ports;
	__u8 proto;
};

static __always_inline int parse6(void *data, void *data_end, struct parsed6 *p)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return -1;
	p->ip = (void *)(eth + 1);
	if ((void *)(p->ip + 1) > data_end)
		return -1;
	p->proto = p->ip->nexthdr;
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return -1;
	p->ports = (void *)(p->ip + 1);
	if ((void *)(p->ports + 2) > data_end)
		return -1;
	return 0;
}

static __always_inline void ct6_key_of(const struct parsed6 *p, struct ct6_key *ct)
{
	__builtin_memcpy(ct->saddr, &p->ip->saddr, 16);
	__builtin_memcpy(ct->daddr, &p->ip->daddr, 16);
	ct->sport = p->ports[0];
	ct->dport = p->ports[1];
	ct->proto = p->proto;
}

static __always_inline __u32 flow_hash6(const struct ct6_key *k)
{
	struct ct4_key folded = {
		.saddr = k->saddr[0] ^ k->saddr[1] ^ k->saddr[2] ^ k->saddr[3],
		.daddr = k->daddr[0] ^ k->daddr[1] ^ k->daddr[2] ^ k->daddr[3],
		.sport = k->sport,
		.dport = k->dport,
		.proto = k->proto,
	};
	return flow_hash(&folded);
}

static __always_inline void emit6(const struct ct6_key *ct, __u8 hook, __u16 rev_nat_id,
				  __u32 backend_id, const struct lb6_backend *be, __u8 reason)
{
	struct lb_event ev = {
		.ts_ns = bpf_ktime_get_ns(),
		.vport = ct->dport,
		.backend_id = backend_id,
		.rev_nat_id = rev_nat_id,
		.proto = ct->proto,
		.hook = hook,
		.verdict = reason == LB_DROP_NONE ? LB_EVENT_TRANSLATED : LB_EVENT_DROPPED,
		.reason = reason,
		.family = LB_FAMILY_V6,
		.sport = ct->sport,
	};
	__builtin_memcpy(ev.vip, ct->daddr, 16);
	__builtin_memcpy(ev.saddr, ct->saddr, 16);
	if (be) {
		__builtin_memcpy(ev.backend_address, be->address, 16);
		ev.backend_port = be->port;
	}
	bpf_ringbuf_output(&portico_lb_events, &ev, sizeof(ev), 0);
}

static __always_inline int local_dest6(void *ctx, __u32 ifindex, const struct ct6_key *ct)
{
	struct bpf_fib_lookup fib = {
		.family = 10, /* AF_INET6 */
		.l4_protocol = ct->proto,
		.sport = ct->sport,
		.dport = ct->dport,
		.ifindex = ifindex,
	};

	__builtin_memcpy(fib.ipv6_src, ct->saddr, 16);
	__builtin_memcpy(fib.ipv6_dst, ct->daddr, 16);
	return bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_NOT_FWDED;
}

/* select_backend for IPv6 (same steps, the family's maps). */
static __always_inline int select_backend6(void *ctx, __u32 ifindex, const struct ct6_key *ct,
					   __u8 hook, struct lb6_backend **out)
{
	struct lb6_key skey = {};
	struct ct4_entry *entry, fresh = {};
	struct lb_service *svc;
	struct lb6_backend *be = NULL;
	__u32 id = 0;

	entry = bpf_map_lookup_elem(&portico_ct6, ct);
	if (entry) {
		id = entry->backend_id;
		be = bpf_map_lookup_elem(&portico_lb6_backends, &id);
		if (be)
			fresh = *entry;
	}
	if (!be) {
		__builtin_memcpy(skey.address, ct->daddr, 16);
		skey.dport = ct->dport;
		skey.proto = ct->proto;
		svc = bpf_map_lookup_elem(&portico_lb6_services, &skey);
		if (!svc) {
			__builtin_memset(skey.address, 0, 16);
			svc = bpf_map_lookup_elem(&portico_lb6_services, &skey);
			if (!svc || !(svc->flags & LB_FLAG_NODEPORT) || !local_dest6(ctx, ifindex, ct))
				return NP_PASS;
		}
		if (svc->count == 0) {
			emit6(ct, hook, svc->rev_nat_id, 0, NULL, LB_DROP_NO_BACKENDS);
			return NP_DROP;
		}
		fresh.rev_nat_id = svc->rev_nat_id;
		id = pick_backend(svc, flow_hash6(ct), &portico_lb6_services, &skey, &skey.slot);
		be = id ? bpf_map_lookup_elem(&portico_lb6_backends, &id) : NULL;
		if (!be) {
			emit6(ct, hook, fresh.rev_nat_id, id, NULL, LB_DROP_BACKEND_MISSING);
			return NP_DROP;
		}
		emit6(ct, hook, fresh.rev_nat_id, id, be, LB_DROP_NONE);
		fresh.backend_id = id;
		bpf_map_update_elem(&portico_ct6, ct, &fresh, BPF_ANY);
	}

	struct ct6_key rkey = {
		.sport = be->port,
		.dport = ct->sport,
		.proto = ct->proto,
	};
	struct ct6_reverse rval = {
		.vport = ct->dport,
		.rev_nat_id = fresh.rev_nat_id,
	};
	__builtin_memcpy(rkey.saddr, be->address, 16);
	__builtin_memcpy(rkey.daddr, ct->saddr, 16);
	__builtin_memcpy(rval.vip, ct->daddr, 16);
	bpf_map_update_elem(&portico_ct6_reverse, &rkey, &rval, BPF_ANY);
	*out = be;
	return NP_FORWARD;
}

#endif
