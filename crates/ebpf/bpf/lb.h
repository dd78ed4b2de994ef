/* Service load-balancer maps shared by the Portico eBPF programs.
 *
 * Layout mirrors crates/ebpf/src/maps.rs and events.rs (repr(C) structs of
 * the same sizes); change both together. Addresses and ports are in network
 * byte order.
 *
 * A service is a set of entries in portico_lb{4,6}_services keyed by
 * {vip, port, proto, slot}: slot 0 is the master entry (backend count, flags,
 * algorithm, rev_nat_id), slots 1..count hold backend ids. The agent writes
 * the slots before the master's count grows and shrinks the count before it
 * deletes slots, so a lookup never sees a half-written service.
 *
 * Backend ids and rev-NAT (service) ids are one space across both families;
 * a backend lives in the map of its family.
 */
#ifndef PORTICO_LB_H
#define PORTICO_LB_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define LB_MAX_SERVICES 65536
#define LB_MAX_BACKENDS 65536
#define LB_MAX_MAGLEV 1024
#define LB_MAGLEV_SIZE 16381 /* prime; Rust: portico_maglev::TableSize::DEFAULT */

#define LB_ALG_RANDOM 0
#define LB_ALG_MAGLEV 1

#define LB_FLAG_AFFINITY 0x01
#define LB_FLAG_NODEPORT 0x02
#define LB_FLAG_LOADBALANCER 0x04
#define LB_FLAG_EXTERNAL_IP 0x08

#define LB_BACKEND_ACTIVE 0
#define LB_BACKEND_TERMINATING 1

#define LB_FAMILY_V4 4
#define LB_FAMILY_V6 6

struct lb4_key {
	__be32 address;
	__be16 dport;
	__u16 slot;
	__u8 proto;
	__u8 pad[3];
};

struct lb6_key {
	__u32 address[4];
	__be16 dport;
	__u16 slot;
	__u8 proto;
	__u8 pad[3];
};

/* The value of both services maps. */
struct lb_service {
	__u32 backend_id;	/* slot > 0 */
	__u16 count;		/* slot 0 */
	__u16 rev_nat_id;	/* slot 0 */
	__u8 flags;
	__u8 algorithm;
	__u16 pad;
	__u32 affinity_timeout;	/* seconds */
};

struct lb4_backend {
	__be32 address;
	__be16 port;
	__u8 proto;
	__u8 state;
};

struct lb6_backend {
	__u32 address[4];
	__be16 port;
	__u8 proto;
	__u8 state;
};

/* rev-NAT id → the service frontend (IPv4 in the first 4 bytes). */
struct lb_reverse_nat {
	__u32 address[4];
	__be16 port;
	__u8 family;
	__u8 pad;
};

struct lb4_reverse_sk_key {
	__u64 cookie;
	__be32 address;
	__be16 port;
	__u16 pad;
};

struct lb4_reverse_sk_value {
	__be32 address;
	__be16 port;
	__u16 rev_nat_id;
};

struct lb6_reverse_sk_key {
	__u64 cookie;
	__u32 address[4];
	__be16 port;
	__u16 pad[3];
};

struct lb6_reverse_sk_value {
	__u32 address[4];
	__be16 port;
	__u16 rev_nat_id;
};

struct lb_affinity_key {
	__u64 netns_cookie;
	__u16 rev_nat_id;
	__u16 pad[3];
};

struct lb_affinity_value {
	__u64 last_used_ns;
	__u32 backend_id;
	__u32 pad;
};

#define LB_EVENT_TRANSLATED 0
#define LB_EVENT_DROPPED 1

#define LB_DROP_NONE 0
#define LB_DROP_NO_BACKENDS 1
#define LB_DROP_BACKEND_MISSING 2

#define LB_HOOK_CONNECT4 1
#define LB_HOOK_SENDMSG4 2
#define LB_HOOK_CONNECT6 3
#define LB_HOOK_SENDMSG6 4
#define LB_HOOK_TC_INGRESS 5
#define LB_HOOK_XDP 6

/* One service lookup that hit a frontend: translated to a backend or refused.
 * IPv4 addresses sit in the first 4 bytes of the address fields. */
struct lb_event {
	__u64 ts_ns;
	__u64 sock_cookie;
	__u64 netns_cookie;
	__u32 vip[4];
	__u32 backend_address[4];
	__be16 vport;
	__be16 backend_port;
	__u32 backend_id;
	__u16 rev_nat_id;
	__u8 proto;
	__u8 hook;
	__u8 verdict;
	__u8 reason;
	__u8 family;
	__u8 pad;
	/* The client, when known (north-south); zero for the socket hooks. */
	__u32 saddr[4];
	__be16 sport;
	__u8 pad2[6];
};

struct lb_maglev {
	__u32 backend_ids[LB_MAGLEV_SIZE];
};

#define PINNED_HASH(name, ktype, vtype, max)            \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_HASH);        \
		__uint(max_entries, max);               \
		__type(key, ktype);                     \
		__type(value, vtype);                   \
		__uint(pinning, LIBBPF_PIN_BY_NAME);    \
	} name SEC(".maps")

#define PINNED_LRU(name, ktype, vtype, max)             \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);    \
		__uint(max_entries, max);               \
		__type(key, ktype);                     \
		__type(value, vtype);                   \
		__uint(pinning, LIBBPF_PIN_BY_NAME);    \
	} name SEC(".maps")

PINNED_HASH(portico_lb4_services, struct lb4_key, struct lb_service, LB_MAX_SERVICES);
PINNED_HASH(portico_lb6_services, struct lb6_key, struct lb_service, LB_MAX_SERVICES);
PINNED_HASH(portico_lb4_backends, __u32, struct lb4_backend, LB_MAX_BACKENDS);
PINNED_HASH(portico_lb6_backends, __u32, struct lb6_backend, LB_MAX_BACKENDS);
PINNED_HASH(portico_lb_reverse_nat, __u16, struct lb_reverse_nat, LB_MAX_SERVICES);
PINNED_LRU(portico_lb4_reverse_sk, struct lb4_reverse_sk_key, struct lb4_reverse_sk_value, 65536);
PINNED_LRU(portico_lb6_reverse_sk, struct lb6_reverse_sk_key, struct lb6_reverse_sk_value, 65536);
PINNED_LRU(portico_lb_affinity, struct lb_affinity_key, struct lb_affinity_value, 65536);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_MAGLEV);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u16);
	__type(value, struct lb_maglev);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} portico_lb_maglev SEC(".maps");

/* Not pinned: each agent reads its own programs' events. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} portico_lb_events SEC(".maps");

#endif
