/* North-south load balancing in XDP: the ingress half of nodeport.c run at
 * the driver (native mode) or at the start of the stack (generic mode), with
 * the same conntrack, Maglev / weighted random selection and DNAT
 * (nodeport.h). The packet is rewritten in place, checksums updated
 * incrementally (RFC 1624), and passed to the stack, which forwards it to
 * the backend. XDP has no egress hook: replies and SNAT use the tc programs
 * of nodeport.c on the same maps. IPv4 and IPv6 (no SNAT for IPv6).
 *
 * The L4 checksum update assumes a complete checksum, as a NIC delivers it.
 * A packet from a local veth peer with TX checksum offload carries only the
 * pseudo-header sum (CHECKSUM_PARTIAL), which this update does not fit; the
 * kernel does not verify such packets between veth peers (the namespace
 * tests), but one leaving through a NIC would need offload off upstream.
 */
#include "nodeport.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* HC' = ~(~HC + ~m + m') for a 32-bit field (two 16-bit words). The sum is
 * byte-order independent, so the words are added as they lie in memory. */
static __always_inline void csum_replace4(__u16 *csum, __be32 from, __be32 to)
{
	__u32 sum = (__u16)~*csum;

	sum += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	*csum = ~csum_fold32(sum);
}

static __always_inline void csum_replace2(__u16 *csum, __be16 from, __be16 to)
{
	__u32 sum = (__u16)~*csum;

	sum += (__u16)~from;
	sum += to;
	*csum = ~csum_fold32(sum);
}

static __always_inline int xdp4(struct xdp_md *ctx, void *data, void *data_end)
{
	struct lb4_backend *be = NULL;
	struct ct4_key ct = {};
	struct parsed p;
	__u16 *l4csum;
	int verdict;

	if (parse(data, data_end, &p))
		return XDP_PASS;
	ct_key(&p, &ct);
	verdict = select_backend(ctx, ctx->ingress_ifindex, &ct, LB_HOOK_XDP, &be);
	if (verdict == NP_PASS)
		return XDP_PASS;
	if (verdict == NP_DROP || !be)
		return XDP_DROP;

	l4csum = (void *)p.ports + (p.proto == IPPROTO_TCP ? offsetof(struct tcphdr, check)
							   : offsetof(struct udphdr, check));
	if ((void *)(l4csum + 1) > data_end)
		return XDP_DROP;
	__be32 new_addr = be->address;
	__be16 new_port = be->port;

	csum_replace4(&p.ip->check, ct.daddr, new_addr);
	p.ip->daddr = new_addr;
	/* UDP checksum 0 means "none": keep it so; a computed 0 is sent as ~0. */
	if (p.proto == IPPROTO_TCP || *l4csum) {
		csum_replace4(l4csum, ct.daddr, new_addr);
		csum_replace2(l4csum, ct.dport, new_port);
		if (p.proto == IPPROTO_UDP && *l4csum == 0)
			*l4csum = 0xffff;
	}
	p.ports[1] = new_port;
	return XDP_PASS;
}

static __always_inline int xdp6(struct xdp_md *ctx, void *data, void *data_end)
{
	struct lb6_backend *be = NULL;
	struct ct6_key ct = {};
	struct parsed6 p;
	__u16 *l4csum;
	int verdict;

	if (parse6(data, data_end, &p))
		return XDP_PASS;
	ct6_key_of(&p, &ct);
	verdict = select_backend6(ctx, ctx->ingress_ifindex, &ct, LB_HOOK_XDP, &be);
	if (verdict == NP_PASS)
		return XDP_PASS;
	if (verdict == NP_DROP || !be)
		return XDP_DROP;
	l4csum = (void *)p.ports + (p.proto == IPPROTO_TCP ? offsetof(struct tcphdr, check)
							   : offsetof(struct udphdr, check));
	if ((void *)(l4csum + 1) > data_end)
		return XDP_DROP;
	__u32 new_addr[4];
	__be16 new_port = be->port;

	__builtin_memcpy(new_addr, be->address, 16);
	/* No IP header checksum in IPv6; the pseudo-header covers the address. */
#pragma unroll
	for (int i = 0; i < 4; i++)
		csum_replace4(l4csum, ct.daddr[i], new_addr[i]);
	csum_replace2(l4csum, ct.dport, new_port);
	__builtin_memcpy(&p.ip->daddr, new_addr, 16);
	p.ports[1] = new_port;
	return XDP_PASS;
}

SEC("xdp")
int portico_nodeport_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IPV6))
		return xdp6(ctx, data, data_end);
	return xdp4(ctx, data, data_end);
}
