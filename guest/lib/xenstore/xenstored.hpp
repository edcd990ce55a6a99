// The XenStore core domain 0 runs: the tree, permissions, quotas, watches, transactions and the
// operations of the wire protocol (xen/io/xs_wire.h, Xen's docs/misc/xenstore.txt), with the
// semantics of Xen's C xenstored.  No hypervisor access: a request comes in as (domid, header,
// payload), replies and watch events queue per connection; the ring pump (ring.hpp) and the
// Backend below are where event channels and ring mappings plug in.
//
// Nodes live in a hash table keyed by their full path, as in xenstored's database: a record
// holds the permissions, the value and the children's names (NUL-separated) and a generation
// number that changes on every write.  Transactions do not copy the tree: each keeps the
// records it touched — for a node only read, the generation seen (or "absent"); for a node
// written or deleted, its new state — and reads fall through to the tree.  TRANSACTION_END
// commits only if every node looked at still has the generation seen (else EAGAIN), which is
// xenstored's rule: a node first read then written is checked, one created meanwhile by
// someone else is too (it was seen absent).
//
// Permissions (xenstored's perm_for_conn): domain 0 and a node's owner (perms[0].domid) may do
// anything; another domain gets the bits of the first ACL entry naming it, else perms[0]'s
// bits.  An operation on a missing node says ENOENT only if the nearest existing ancestor
// grants the access asked for, else EACCES, so a refusal reveals nothing.
//
// The arena's last eighth is domain 0's alone: while an unprivileged domain's request is handled
// the arena refuses to go past the rest (ENOMEM for that request), so however many domains fill
// their quotas, the toolstack's requests still find memory.
//
// Memory: every arena block allocated while a domain's request is handled (nodes, transaction
// entries, watches) is charged to that domain until freed, and an allocation past its memory
// quota fails (ENOMEM).  Xen 4.17 has the same hard quota but stops reading the ring of a domain
// over it; refusing the allocation keeps the domain served, so it can free what it holds.
// Queued replies and events are charged to nobody: the output quota bounds them.
//
// Quotas bind unprivileged domains only: nodes owned (ENOSPC), node size (ENOSPC), ACL
// entries (ENOSPC), path length (EINVAL), watches (E2BIG), transactions (ENOSPC), nodes
// touched by one transaction (ENOSPC), and the bytes waiting in their output queue (watch
// events beyond it are dropped, as xenstored drops them past its memory quota).
#pragma once
#include <stdint.h>

#include <xen/io/xs_wire.h>

#include "guest/lib/xenstore/arena.hpp"
#include "lib/string.hpp"
#include "lib/types.hpp"

namespace xs {

using pv::u16;
using pv::u32;
using pv::u64;
using pv::u8;
using pv::usize;

// Xen's errno name for an error code ("EINVAL"), from xs_wire.h's xsd_errors; EINVAL for a
// code the protocol has no name for, as xenstored's send_error.
const char* error_string(int err);
// The error code of an XS_ERROR reply's name (len bytes, a NUL may end it earlier); EINVAL for a
// name the protocol does not know, as libxenstore.
int error_number(const char* name, u32 len);

struct Quotas {  // Xen 4.17's defaults (tools/xenstore/xenstored_domain.c)
    u32 nodes = 1000;
    u32 node_size = 2048;  // permissions + value + children names
    u32 perms = 5;
    u32 path_len = XENSTORE_REL_PATH_MAX;  // below /local/domain/<id>/
    u32 watches = 128;
    u32 transactions = 10;
    u32 trans_nodes = 1024;
    u32 out_bytes = 64 * 1024;  // ours: queued replies and events per connection
    u32 memory = 2560 * 1024;   // arena bytes per domain (Xen's quota_memory_per_domain_hard)
};

// Ring mapping and event channel: what INTRODUCE and RELEASE need from the platform.  The
// default does nothing, which is all the host tests want.
class Backend {
public:
    virtual ~Backend() = default;
    // INTRODUCE <domid> <mfn> <port>: map the ring and bind the port; an error refuses it.
    virtual int connect(u32 domid, u64 mfn, u32 port);
    // RELEASE: unbind and unmap.
    virtual void disconnect(u32 domid);
};

struct Perm {
    u16 domid;
    u8 bits;  // PERM_READ | PERM_WRITE
    u8 pad;
};
inline constexpr u8 PERM_READ = 1, PERM_WRITE = 2, PERM_OWNER = 4;

struct Rec;
struct Txn;
struct Conn;
struct OutMsg {
    OutMsg* next;
    xsd_sockmsg hdr;
    char* data() { return reinterpret_cast<char*>(this + 1); }
};

class Xenstored final : private Arena::Ledger {
public:
    Xenstored(Arena& arena, const Quotas& quotas = {}, Backend* backend = nullptr);
    ~Xenstored();
    Xenstored(const Xenstored&) = delete;
    Xenstored& operator=(const Xenstored&) = delete;

    // The initial tree ("/", "/tool", "/tool/xenstored", "/local", "/local/domain" and the
    // special nodes, all owned by domain 0 with no access for others) and domain 0's
    // connection.  false when the arena is too small.
    bool init();

    // One request from a connected domain.  The header's len must equal payload_len (the ring
    // decoder guarantees it).  Requests from a domain with no connection are dropped.
    void handle(u32 domid, const xsd_sockmsg& hdr, const void* payload, u32 payload_len);

    // The connection's next queued message (reply or watch event), or nullptr; pop it once
    // written to the ring.
    const OutMsg* peek_output(u32 domid) const;
    void pop_output(u32 domid);
    u32 output_bytes(u32 domid) const;

    bool connected(u32 domid) const { return find_conn(domid) != nullptr; }
    // The connected domains' ids in connection order (domain 0 first); returns how many there
    // are (only the first `max` are stored).
    u32 connections(u32* out, u32 max) const;
    // Those with queued output (replies, watch events), at most `max`: what the ring pump
    // must write out, without a lookup for every connection.
    u32 connections_with_output(u32* out, u32 max) const;

    // What xenstored does when VIRQ_DOM_EXC says a domain changed (domain_cleanup): a domain
    // seen shut down for the first time fires @releaseDomain; a dying or vanished one loses its
    // connection (as RELEASE: the Backend unmaps and unbinds) and fires it too.
    void domain_shut_down() { fire_special("@releaseDomain"); }
    void domain_gone(u32 domid);
    const Quotas& quotas() const { return q_; }
    Arena& arena() { return arena_; }

    // Nodes charged to a domain (for tests and the console).
    u32 nodes_owned(u32 domid) const;
    // Arena bytes charged to a domain.
    usize memory_used(u32 domid) const;

private:
    struct Domain;
    struct Watch;

    // Requests.
    int do_read(Conn&, Txn*, const char*, u32);
    int do_write(Conn&, Txn*, const char*, u32);
    int do_mkdir(Conn&, Txn*, const char*, u32);
    int do_rm(Conn&, Txn*, const char*, u32);
    int do_directory(Conn&, Txn*, const char*, u32);
    int do_get_perms(Conn&, Txn*, const char*, u32);
    int do_set_perms(Conn&, Txn*, const char*, u32);
    int do_watch(Conn&, const char*, u32);
    int do_unwatch(Conn&, const char*, u32);
    int do_transaction_start(Conn&, Txn*);
    int do_transaction_end(Conn&, Txn*, const char*, u32);
    int do_introduce(const char*, u32);
    int do_release(const char*, u32);
    int do_get_domain_path(const char*, u32);
    int do_is_domain_introduced(const char*, u32);
    int do_reset_watches(Conn&);

    // Paths and permissions.
    int canonicalize(const Conn&, const char* in, bool allow_special, char* out) const;
    u8 perm_for(const Conn&, const Rec&) const;
    u8 perm_for(const Conn&, const Perm*, u32 n) const;
    int get_node(Conn&, Txn*, const char* path, u8 want, const Rec** out);
    int errno_from_parents(Conn&, Txn*, const char* path, u8 want);

    // The tree, through a transaction when there is one.
    int lookup(Txn*, pv::StrView path, const Rec** out);
    int install(Conn&, Txn*, Rec* rec);
    int remove(Conn&, Txn*, pv::StrView path);
    int create(Conn&, Txn*, pv::StrView path, const u8* value, u32 len);
    int remove_tree(Conn&, Txn*, pv::StrView path);
    Rec* make_rec(pv::StrView path, const Perm* perms, u32 nperms, const void* value, u32 vlen,
                  const char* children, u32 clen);
    bool too_big(const Conn&, const Rec&) const;
    void tree_link(Rec*);
    Rec* tree_unlink(pv::StrView path);
    Rec* tree_find(pv::StrView path) const;

    // Accounting.
    Domain* domain(u32 domid, bool create);
    Domain* find_domain(u32 domid) const;
    bool charge(u32 tag, usize bytes) override;  // Arena::Ledger
    void credit(u32 tag, usize bytes) override;
    int charge(Txn*, u32 owner, int delta);
    u32 owned_now(const Conn&, Txn*) const;

    // Watches.
    void fire(Conn& by, Txn*, pv::StrView path, bool exact, const Rec* node, const Rec* old);
    void fire_special(const char* name);
    void fire_changed(Conn&, Txn*, pv::StrView path, const Rec* old);
    bool watch_permitted(const Conn& watcher, pv::StrView path, const Rec* node, const Rec* old);
    bool is_child(pv::StrView child, pv::StrView parent) const;

    // Transactions.
    Txn* find_txn(Conn&, u32 id) const;
    void free_txn(Conn&, Txn*);
    Rec* txn_entry(Txn*, pv::StrView path) const;
    int commit(Conn&, Txn*);

    // Connections and output.
    Conn* find_conn(u32 domid) const;
    Conn* new_conn(u32 domid);
    void drop_conn(Conn*);
    void reset_conn(Conn&);
    void drop_watches_and_txns(Conn&);
    void reply(Conn&, const xsd_sockmsg& req, u32 type, const void* data, u32 len);
    void reply_error(Conn&, const xsd_sockmsg& req, int err);
    void event(Conn&, pv::StrView path, const char* token);
    bool enqueue(Conn&, u32 type, u32 req_id, u32 tx_id, const void* a, u32 alen, const void* b,
                 u32 blen, bool is_event);

    bool privileged(const Conn& c) const;
    void send(Conn&, const void* data, u32 len);  // the reply to the current request
    void ack(Conn&);                              // "OK"

    Arena& arena_;
    Quotas q_;
    Backend* backend_;
    Backend default_backend_;
    Rec** buckets_ = nullptr;
    u32 nbuckets_ = 0;
    u64 generation_ = 0;
    Conn* conns_ = nullptr;
    Domain* domains_ = nullptr;
    char* scratch_ = nullptr;  // a canonical path under construction (XENSTORE_ABS_PATH_MAX + 64)
    char* scratch2_ = nullptr;
    const xsd_sockmsg* req_ = nullptr;  // the request being handled
    Conn* cur_conn_ = nullptr;          // and its connection
};

}  // namespace xs
