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
 *
 * Parsing, conntrack and backend selection live in nodeport.h, shared with
 * the XDP variant of the ingress program (nodeport_xdp.c), which uses the
 * egress and SNAT programs of this file for everything after ingress.
 */
#include "nodeport.h"
#include <linux/pkt_cls.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader: the node address used as SNAT source (0: no SNAT). */
volatile const __be32 snat_addr = 0;

#define SNAT_PORT_MIN 32768
#define SNAT_PORT_RANGE 28232 /* 32768..60999 */
#define SNAT_TRIES 8

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

/* rewrite() for an IPv6 address (no IP header checksum; the L4 checksum
 * covers the address through the pseudo-header). */
static __always_inline int rewrite6(struct __sk_buff *skb, __u32 addr_off, __u32 port_off,
				    __u32 csum_off, __u8 proto, __u32 *old_addr, __u32 *new_addr,
				    __be16 old_port, __be16 new_port)
{
	__u64 l4flags = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__s64 diff = bpf_csum_diff(old_addr, 16, new_addr, 16, 0);

	if (diff < 0)
		return -1;
	if (bpf_l4_csum_replace(skb, csum_off, 0, diff, l4flags | BPF_F_PSEUDO_HDR))
		return -1;
	if (bpf_skb_store_bytes(skb, addr_off, new_addr, 16, 0))
		return -1;
	if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port, l4flags | sizeof(new_port)))
		return -1;
	if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0))
		return -1;
	return 0;
}

static __always_inline __u32 l4_csum_off6(__u8 proto)
{
	return L4_OFF6 + (proto == IPPROTO_TCP ? offsetof(struct tcphdr, check)
					       : offsetof(struct udphdr, check));
}

static __always_inline int ingress6(struct __sk_buff *skb)
{
	struct lb6_backend *be = NULL;
	struct ct6_key ct = {};
	struct parsed6 p;
	__u32 backend[4];
	int verdict;

	if (parse6((void *)(long)skb->data, (void *)(long)skb->data_end, &p))
		return TC_ACT_OK;
	ct6_key_of(&p, &ct);
	verdict = select_backend6(skb, skb->ifindex, &ct, LB_HOOK_TC_INGRESS, &be);
	if (verdict == NP_PASS)
		return TC_ACT_OK;
	if (verdict == NP_DROP || !be)
		return TC_ACT_SHOT;
	__builtin_memcpy(backend, be->address, 16);
	if (rewrite6(skb, IP6_DST_OFF, L4_OFF6 + 2, l4_csum_off6(ct.proto), ct.proto, ct.daddr,
		     backend, ct.dport, be->port))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

static __always_inline int egress6(struct __sk_buff *skb)
{
	struct ct6_key key = {};
	struct ct6_reverse *rev;
	struct parsed6 p;
	__u32 vip[4];

	if (parse6((void *)(long)skb->data, (void *)(long)skb->data_end, &p))
		return TC_ACT_OK;
	ct6_key_of(&p, &key);
	rev = bpf_map_lookup_elem(&portico_ct6_reverse, &key);
	if (!rev)
		return TC_ACT_OK;
	__builtin_memcpy(vip, rev->vip, 16);
	if (rewrite6(skb, IP6_SRC_OFF, L4_OFF6, l4_csum_off6(key.proto), key.proto, key.saddr,
		     vip, key.sport, rev->vport))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

static __always_inline int ingress4(struct __sk_buff *skb)
{
	struct lb4_backend *be = NULL;
	struct ct4_key ct = {};
	struct parsed p;
	int verdict;

	if (parse((void *)(long)skb->data, (void *)(long)skb->data_end, &p))
		return TC_ACT_OK;
	ct_key(&p, &ct);
	verdict = select_backend(skb, skb->ifindex, &ct, LB_HOOK_TC_INGRESS, &be);
	if (verdict == NP_PASS)
		return TC_ACT_OK;
	if (verdict == NP_DROP || !be)
		return TC_ACT_SHOT;
	if (rewrite(skb, IP_DST_OFF, L4_OFF + 2, p.csum_off, p.proto, ct.daddr, be->address,
		    ct.dport, be->port))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("classifier")
int portico_nodeport_ingress(struct __sk_buff *skb)
{
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return ingress6(skb);
	return ingress4(skb);
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

	if (!snat_addr || parse((void *)(long)skb->data, (void *)(long)skb->data_end, &p))
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

	if (!snat_addr || parse((void *)(long)skb->data, (void *)(long)skb->data_end, &p))
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

	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return egress6(skb);
	if (parse((void *)(long)skb->data, (void *)(long)skb->data_end, &p))
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
