/* North-south load balancing on tc (ingress + egress of an external
 * interface): packets to a service frontend are DNATed to a backend chosen by
 * Maglev over the flow's 5-tuple (random slot for non-Maglev services), the
 * choice is kept in a conntrack LRU so established flows stick to their
 * backend when the backend set changes, and replies are reverse-translated
 * on egress so the client only ever sees the VIP. The node forwards between
 * the interfaces (ip_forward); IPv4, IP header without options.
 *
 * With SNAT (snat_addr set at load time), the client address is also
 * replaced by the node's address and a port from 32768-60999, so backends
 * need no route back to clients; the replies arrive on the internal
 * interface, where portico_nodeport_snat_reply restores client and VIP.
 */
#include "lb.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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

/* Set by the loader: the node address used as SNAT source (0: no SNAT). */
volatile const __be32 snat_addr = 0;

#define SNAT_PORT_MIN 32768
#define SNAT_PORT_RANGE 28232 /* 32768..60999 */
#define SNAT_TRIES 8

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

static __always_inline int parse(struct __sk_buff *skb, struct parsed *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
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

static __always_inline int rewrite(struct __sk_buff *skb, __u32 addr_off, __u32 port_off,
				   __u32 csum_off, __u8 proto, __be32 old_addr, __be32 new_addr,
				   __be16 old_port, __be16 new_port)
{
	__u64 l4flags = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	if (bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr,
				l4flags | BPF_F_PSEUDO_HDR | sizeof(new_addr)))
		return -1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, sizeof(new_addr)))
		return -1;
	if (bpf_skb_store_bytes(skb, addr_off, &new_addr, sizeof(new_addr), 0))
		return -1;
	if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port, l4flags | sizeof(new_port)))
		return -1;
	if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0))
		return -1;
	return 0;
}

static __always_inline void emit(const struct ct4_key *ct, __u16 rev_nat_id, __u32 backend_id,
				 const struct lb4_backend *be, __u8 reason)
{
	struct lb_event ev = {
		.ts_ns = bpf_ktime_get_ns(),
		.vport = ct->dport,
		.backend_id = backend_id,
		.rev_nat_id = rev_nat_id,
		.proto = ct->proto,
		.hook = LB_HOOK_TC_INGRESS,
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

/* A node port for the flow: the one it has, or a free one (0 if none). */
static __always_inline __be16 snat_port(const struct ct4_key *ct, const struct lb4_backend *be,
					__be16 have)
{
	struct snat4_key key = {
		.backend = be->address,
		.node = snat_addr,
		.backend_port = be->port,
		.proto = ct->proto,
	};
	struct snat4_value val = { .client = ct->saddr, .client_port = ct->sport };
	struct snat4_value *cur;
	__u32 h = flow_hash(ct);

	if (have) {
		key.node_port = have;
		bpf_map_update_elem(&portico_snat4, &key, &val, BPF_ANY);
		return have;
	}
#pragma unroll
	for (int i = 0; i < SNAT_TRIES; i++) {
		__u16 port = SNAT_PORT_MIN + (h + i * 7919) % SNAT_PORT_RANGE;
		key.node_port = bpf_htons(port);
		cur = bpf_map_lookup_elem(&portico_snat4, &key);
		if (!cur || (cur->client == val.client && cur->client_port == val.client_port)) {
			if (bpf_map_update_elem(&portico_snat4, &key, &val, BPF_ANY))
				return 0;
			return key.node_port;
		}
	}
	return 0;
}

SEC("classifier")
int portico_nodeport_ingress(struct __sk_buff *skb)
{
	struct lb4_key skey = {};
	struct ct4_key ct = {};
	struct ct4_entry *entry, fresh = {};
	struct lb_service *svc;
	struct lb4_backend *be = NULL;
	struct parsed p;
	__u32 id = 0;

	if (parse(skb, &p))
		return TC_ACT_OK;
	ct.saddr = p.ip->saddr;
	ct.daddr = p.ip->daddr;
	ct.sport = p.ports[0];
	ct.dport = p.ports[1];
	ct.proto = p.proto;

	entry = bpf_map_lookup_elem(&portico_ct4, &ct);
	if (entry) {
		id = entry->backend_id;
		be = bpf_map_lookup_elem(&portico_lb4_backends, &id);
		/* A removed backend: the flow is lost, choose again below. */
		if (be)
			fresh = *entry;
	}
	if (!be) {
		skey.address = ct.daddr;
		skey.dport = ct.dport;
		skey.proto = ct.proto;
		svc = bpf_map_lookup_elem(&portico_lb4_services, &skey);
		if (!svc)
			return TC_ACT_OK;
		if (svc->count == 0) {
			emit(&ct, svc->rev_nat_id, 0, NULL, LB_DROP_NO_BACKENDS);
			return TC_ACT_SHOT;
		}
		fresh.rev_nat_id = svc->rev_nat_id;
		id = 0;
		if (svc->algorithm == LB_ALG_MAGLEV) {
			__u16 rev = svc->rev_nat_id;
			struct lb_maglev *table = bpf_map_lookup_elem(&portico_lb_maglev, &rev);
			if (table) {
				__u32 idx = flow_hash(&ct) % LB_MAGLEV_SIZE;
				asm volatile("" : "+r"(idx));
				if (idx < LB_MAGLEV_SIZE)
					id = table->backend_ids[idx];
			}
		}
		if (!id) {
			struct lb_service *slot;
			skey.slot = (bpf_get_prandom_u32() % svc->count) + 1;
			slot = bpf_map_lookup_elem(&portico_lb4_services, &skey);
			id = slot ? slot->backend_id : 0;
		}
		be = id ? bpf_map_lookup_elem(&portico_lb4_backends, &id) : NULL;
		if (!be) {
			emit(&ct, fresh.rev_nat_id, id, NULL, LB_DROP_BACKEND_MISSING);
			return TC_ACT_SHOT;
		}
		/* One trace event per new flow (established ones hit conntrack). */
		emit(&ct, fresh.rev_nat_id, id, be, LB_DROP_NONE);
		fresh.backend_id = id;
		bpf_map_update_elem(&portico_ct4, &ct, &fresh, BPF_ANY);
	}

	struct ct4_key rkey = {
		.saddr = be->address,
		.daddr = ct.saddr,
		.sport = be->port,
		.dport = ct.sport,
		.proto = ct.proto,
	};
	struct ct4_reverse rval = {
		.vip = ct.daddr,
		.vport = ct.dport,
		.rev_nat_id = fresh.rev_nat_id,
	};
	bpf_map_update_elem(&portico_ct4_reverse, &rkey, &rval, BPF_ANY);

	if (rewrite(skb, IP_DST_OFF, L4_OFF + 2, p.csum_off, p.proto, ct.daddr, be->address,
		    ct.dport, be->port))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/* Internal interface egress (SNAT mode), after routing: a flow this node
 * DNATed leaves with the node's address and a node port as its source. (At
 * ingress, before routing, a local source address would be dropped as a
 * martian.) */
SEC("classifier")
int portico_nodeport_snat_egress(struct __sk_buff *skb)
{
	struct ct4_key rkey = {};
	struct ct4_reverse *rev;
	struct ct4_entry *entry;
	struct lb4_backend be = {};
	struct parsed p;

	if (!snat_addr || parse(skb, &p))
		return TC_ACT_OK;
	rkey.saddr = p.ip->daddr; /* backend */
	rkey.daddr = p.ip->saddr; /* client */
	rkey.sport = p.ports[1];
	rkey.dport = p.ports[0];
	rkey.proto = p.proto;
	rev = bpf_map_lookup_elem(&portico_ct4_reverse, &rkey);
	if (!rev)
		return TC_ACT_OK;
	struct ct4_key ct = {
		.saddr = rkey.daddr,
		.daddr = rev->vip,
		.sport = rkey.dport,
		.dport = rev->vport,
		.proto = rkey.proto,
	};
	entry = bpf_map_lookup_elem(&portico_ct4, &ct);
	if (!entry)
		return TC_ACT_OK;
	be.address = rkey.saddr;
	be.port = rkey.sport;
	__be16 have = entry->snat_port;
	__be16 port = snat_port(&ct, &be, have);

	if (!port)
		return TC_ACT_SHOT; /* no free node port for this backend */
	if (port != have)
		entry->snat_port = port;
	if (rewrite(skb, IP_SRC_OFF, L4_OFF, p.csum_off, p.proto, ct.saddr, snat_addr, ct.sport,
		    port))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/* Internal interface ingress (SNAT mode): a backend's reply to node:port
 * goes back to the client, from the VIP. */
SEC("classifier")
int portico_nodeport_snat_reply(struct __sk_buff *skb)
{
	struct snat4_key key = {};
	struct snat4_value *client;
	struct ct4_reverse *rev;
	struct parsed p;

	if (!snat_addr || parse(skb, &p))
		return TC_ACT_OK;
	key.backend = p.ip->saddr;
	key.node = p.ip->daddr;
	key.backend_port = p.ports[0];
	key.node_port = p.ports[1];
	key.proto = p.proto;
	if (key.node != snat_addr)
		return TC_ACT_OK;
	client = bpf_map_lookup_elem(&portico_snat4, &key);
	if (!client)
		return TC_ACT_OK;
	struct ct4_key rkey = {
		.saddr = key.backend,
		.daddr = client->client,
		.sport = key.backend_port,
		.dport = client->client_port,
		.proto = key.proto,
	};
	rev = bpf_map_lookup_elem(&portico_ct4_reverse, &rkey);
	if (!rev)
		return TC_ACT_OK;
	__be32 client_addr = client->client;
	__be16 client_port = client->client_port;
	__be32 vip = rev->vip;
	__be16 vport = rev->vport;

	if (rewrite(skb, IP_DST_OFF, L4_OFF + 2, p.csum_off, p.proto, key.node, client_addr,
		    key.node_port, client_port))
		return TC_ACT_SHOT;
	if (rewrite(skb, IP_SRC_OFF, L4_OFF, p.csum_off, p.proto, key.backend, vip,
		    key.backend_port, vport))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("classifier")
int portico_nodeport_egress(struct __sk_buff *skb)
{
	struct ct4_key key = {};
	struct ct4_reverse *rev;
	struct parsed p;

	if (parse(skb, &p))
		return TC_ACT_OK;
	key.saddr = p.ip->saddr;
	key.daddr = p.ip->daddr;
	key.sport = p.ports[0];
	key.dport = p.ports[1];
	key.proto = p.proto;
	rev = bpf_map_lookup_elem(&portico_ct4_reverse, &key);
	if (!rev)
		return TC_ACT_OK;
	if (rewrite(skb, IP_SRC_OFF, L4_OFF, p.csum_off, p.proto, key.saddr, rev->vip, key.sport,
		    rev->vport))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}
