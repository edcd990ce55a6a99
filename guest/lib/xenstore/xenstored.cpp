#include "guest/lib/xenstore/xenstored.hpp"

#include <xen/errno.h>
#include <xen/xen.h>

#include <new>

namespace xs {

using pv::mem_compare;
using pv::mem_copy;
using pv::StrView;

namespace {

constexpr u64 NO_GEN = ~u64{0};
constexpr u32 PATH_BUF = XENSTORE_ABS_PATH_MAX + 64;

// Transaction entry flags (Rec::flags; 0 in the tree).
constexpr u8 T_CHECK = 1;     // first access was a read: the generation must still match
constexpr u8 T_MODIFIED = 2;  // the entry is the node's new state
constexpr u8 T_DELETED = 4;   // ... and that state is "absent"
constexpr u8 T_FIRE = 8;      // a watch event is due at commit
constexpr u8 T_EXACT = 16;    // ... for watches on exactly this path only
constexpr u8 T_MOVED = 32;    // at commit: now linked in the tree

constexpr int OK = 0;
constexpr int EINVAL_ = XEN_EINVAL, EACCES_ = XEN_EACCES, ENOENT_ = XEN_ENOENT,
              EEXIST_ = XEN_EEXIST, ENOMEM_ = XEN_ENOMEM, ENOSPC_ = XEN_ENOSPC,
              EAGAIN_ = XEN_EAGAIN, E2BIG_ = XEN_E2BIG, EPERM_ = XEN_EPERM, EBUSY_ = XEN_EBUSY,
              ENOSYS_ = XEN_ENOSYS;

u32 hash_of(StrView s) {
    u32 h = 5381;
    for (usize i = 0; i < s.len; ++i) h = h * 33 + static_cast<u8>(s[i]);
    return h;
}

// Number of NULs in the payload: the strings xenstored's get_strings counts.
u32 count_strings(const char* d, u32 len) {
    u32 n = 0;
    for (u32 i = 0; i < len; ++i)
        if (d[i] == 0) ++n;
    return n;
}

// The payload when it is exactly one NUL-terminated string (xenstored's onearg).
const char* onearg(const char* d, u32 len) {
    if (len == 0 || d[len - 1] != 0) return nullptr;
    for (u32 i = 0; i + 1 < len; ++i)
        if (d[i] == 0) return nullptr;
    return d;
}

// atoi as xenstored uses it: leading decimal digits (after an optional sign), 0 if none.
u32 atou(const char* s) {
    bool neg = *s == '-';
    if (*s == '-' || *s == '+') ++s;
    u32 v = 0;
    for (; *s >= '0' && *s <= '9'; ++s) v = v * 10 + static_cast<u32>(*s - '0');
    return neg ? 0u - v : v;
}

usize put_u32(char* out, u32 v) {
    char tmp[12];
    usize n = 0;
    do {
        tmp[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v);
    for (usize i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
    return n;
}

bool valid_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '/' || c == '_' || c == '@';
}

// The parent of a canonical path ("/" for "/x"); p must not be "/".
StrView parent_of(StrView p) {
    usize i = p.len;
    while (i > 1 && p[i - 1] != '/') --i;
    return i <= 1 ? StrView("/", 1) : p.substr(0, i - 1);
}

StrView basename_of(StrView p) {
    usize i = p.len;
    while (i > 0 && p[i - 1] != '/') --i;
    return p.substr(i);
}

}  // namespace

// A node: header, then Perm[nperms], path + NUL, value, children (NUL-terminated names).
struct Rec {
    Rec* next;   // hash chain
    Rec* tnext;  // transaction entry list
    Rec* aux;    // at commit: the tree's record this entry replaced
    u64 gen;     // tree: generation of the last write; entry: generation seen (NO_GEN: absent)
    u32 hash;
    u32 path_len;
    u32 nperms;
    u32 value_len;
    u32 children_len;
    u8 flags;

    Perm* perms() { return reinterpret_cast<Perm*>(this + 1); }
    const Perm* perms() const { return reinterpret_cast<const Perm*>(this + 1); }
    char* path_ptr() { return reinterpret_cast<char*>(perms() + nperms); }
    const char* path_ptr() const { return reinterpret_cast<const char*>(perms() + nperms); }
    StrView path() const { return {path_ptr(), path_len}; }
    const u8* value() const { return reinterpret_cast<const u8*>(path_ptr() + path_len + 1); }
    const char* children() const { return reinterpret_cast<const char*>(value() + value_len); }
    u16 owner() const { return perms()[0].domid; }
};

struct Txn {
    struct Delta {
        Delta* next;
        u32 domid;
        int delta;
    };
    Txn* next;
    u32 id;
    u32 nentries;
    bool fail;
    bool created;
    Rec* entries;
    Rec* last;
    Delta* deltas;
};

struct Xenstored::Watch {
    Watch* next;
    u32 prefix_len;  // what to strip from event paths: the domain's base path for relative watches
    u32 path_len;
    const char* token() const { return path() + path_len + 1; }
    const char* path() const { return reinterpret_cast<const char*>(this + 1); }
};

struct Xenstored::Domain {
    Domain* next;
    u32 domid;
    u32 nodes;
    usize memory;  // arena bytes charged
};

struct Conn {
    Conn* next;
    u32 domid;
    u32 nwatches;
    u32 ntxns;
    u32 next_txid;
    u32 out_bytes;
    void* watches;  // Xenstored::Watch list
    Txn* txns;
    OutMsg* out_head;
    OutMsg* out_tail;
};

int Backend::connect(u32, u64, u32) { return OK; }
void Backend::disconnect(u32) {}

Xenstored::Xenstored(Arena& arena, const Quotas& quotas, Backend* backend)
    : arena_(arena), q_(quotas), backend_(backend ? backend : &default_backend_) {
    arena_.set_ledger(this);
}

Xenstored::~Xenstored() {
    arena_.set_ledger(nullptr);
    while (conns_) drop_conn(conns_);
    if (buckets_) {
        for (u32 i = 0; i < nbuckets_; ++i)
            while (Rec* r = buckets_[i]) {
                buckets_[i] = r->next;
                arena_.free(r);
            }
        arena_.free(buckets_);
    }
    while (Domain* d = domains_) {
        domains_ = d->next;
        arena_.free(d);
    }
    arena_.free(scratch_);
    arena_.free(scratch2_);
}

bool Xenstored::init() {
    nbuckets_ = 1024;
    buckets_ = static_cast<Rec**>(arena_.alloc(nbuckets_ * sizeof(Rec*)));
    scratch_ = static_cast<char*>(arena_.alloc(PATH_BUF));
    scratch2_ = static_cast<char*>(arena_.alloc(PATH_BUF));
    if (!buckets_ || !scratch_ || !scratch2_) return false;
    for (u32 i = 0; i < nbuckets_; ++i) buckets_[i] = nullptr;
    const Perm none{0, 0, 0};
    struct Initial {
        const char* path;
        const char* children;
        u32 clen;
    };
    static const Initial initial[] = {
        {"/", "tool\0local", 11},  {"/tool", "xenstored", 10},   {"/tool/xenstored", "", 0},
        {"/local", "domain", 7},   {"/local/domain", "", 0},     {"@introduceDomain", "", 0},
        {"@releaseDomain", "", 0},
    };
    for (const Initial& n : initial) {
        Rec* r = make_rec(StrView(n.path), &none, 1, nullptr, 0, n.children, n.clen);
        if (!r) return false;
        r->gen = ++generation_;
        tree_link(r);
    }
    Domain* d0 = domain(0, true);
    if (!d0) return false;
    d0->nodes = 7;
    return new_conn(0) != nullptr;
}

bool Xenstored::privileged(const Conn& c) const { return c.domid == 0; }

// ---------------------------------------------------------------------------------------------
// Records and the tree.

Rec* Xenstored::make_rec(StrView path, const Perm* perms, u32 nperms, const void* value,
                         u32 vlen, const char* children, u32 clen) {
    usize size = sizeof(Rec) + nperms * sizeof(Perm) + path.len + 1 + vlen + clen;
    void* mem = arena_.alloc(size);
    if (!mem) return nullptr;
    Rec* r = new (mem) Rec{};
    r->path_len = static_cast<u32>(path.len);
    r->nperms = nperms;
    r->value_len = vlen;
    r->children_len = clen;
    r->hash = hash_of(path);
    r->gen = NO_GEN;
    if (nperms) mem_copy(r->perms(), perms, nperms * sizeof(Perm));
    mem_copy(r->path_ptr(), path.ptr, path.len);
    r->path_ptr()[path.len] = 0;
    if (vlen) mem_copy(const_cast<u8*>(r->value()), value, vlen);
    if (clen) mem_copy(const_cast<char*>(r->children()), children, clen);
    return r;
}

Rec* Xenstored::tree_find(StrView path) const {
    u32 h = hash_of(path);
    for (Rec* r = buckets_[h & (nbuckets_ - 1)]; r; r = r->next)
        if (r->hash == h && r->path().equals(path)) return r;
    return nullptr;
}

void Xenstored::tree_link(Rec* r) {
    Rec** b = &buckets_[r->hash & (nbuckets_ - 1)];
    r->next = *b;
    *b = r;
}

Rec* Xenstored::tree_unlink(StrView path) {
    u32 h = hash_of(path);
    for (Rec** l = &buckets_[h & (nbuckets_ - 1)]; *l; l = &(*l)->next) {
        Rec* r = *l;
        if (r->hash == h && r->path().equals(path)) {
            *l = r->next;
            r->next = nullptr;
            return r;
        }
    }
    return nullptr;
}

bool Xenstored::too_big(const Conn& c, const Rec& r) const {
    return !privileged(c) && r.nperms * sizeof(Perm) + r.value_len + r.children_len > q_.node_size;
}

Rec* Xenstored::txn_entry(Txn* tx, StrView path) const {
    u32 h = hash_of(path);
    for (Rec* e = tx->entries; e; e = e->tnext)
        if (e->hash == h && e->path().equals(path)) return e;
    return nullptr;
}

// The node at path as the request sees it: through the transaction's entries, else the tree.
// Inside a transaction the first look at a path is remembered with the generation seen.
int Xenstored::lookup(Txn* tx, StrView path, const Rec** out) {
    *out = nullptr;
    Rec* g = tree_find(path);
    if (!tx) {
        *out = g;
        return OK;
    }
    if (Rec* e = txn_entry(tx, path)) {
        if (e->flags & T_MODIFIED)
            *out = (e->flags & T_DELETED) ? nullptr : e;
        else
            *out = g;
        return OK;
    }
    if (tx->nentries >= q_.trans_nodes) return ENOSPC_;  // only unprivileged txns are limited
    Rec* e = make_rec(path, nullptr, 0, nullptr, 0, nullptr, 0);
    if (!e) {
        tx->fail = true;
        return ENOMEM_;
    }
    e->gen = g ? g->gen : NO_GEN;
    e->flags = T_CHECK;
    if (tx->last)
        tx->last->tnext = e;
    else
        tx->entries = e;
    tx->last = e;
    ++tx->nentries;
    *out = g;
    return OK;
}

// Replace an entry in a transaction's list by rec (same path), keeping what was seen.
static void replace_entry(Txn* tx, Rec* old, Rec* rec) {
    rec->gen = old->gen;
    rec->flags = static_cast<u8>((old->flags & (T_CHECK | T_FIRE | T_EXACT)) | T_MODIFIED);
    rec->tnext = old->tnext;
    Rec** l = &tx->entries;
    while (*l != old) l = &(*l)->tnext;
    *l = rec;
    if (tx->last == old) tx->last = rec;
}

// Make rec the node's state (rec is consumed).  Every path installed was looked up first, so
// inside a transaction the entry exists.
int Xenstored::install(Conn&, Txn* tx, Rec* rec) {
    if (!tx) {
        rec->gen = ++generation_;
        Rec* old = tree_unlink(rec->path());
        tree_link(rec);
        arena_.free(old);
        return OK;
    }
    Rec* e = txn_entry(tx, rec->path());
    if (!e) {
        arena_.free(rec);
        tx->fail = true;
        return ENOMEM_;
    }
    replace_entry(tx, e, rec);
    arena_.free(e);
    return OK;
}

int Xenstored::remove(Conn&, Txn* tx, StrView path) {
    if (!tx) {
        arena_.free(tree_unlink(path));
        return OK;
    }
    Rec* e = txn_entry(tx, path);
    Rec* d = e ? make_rec(path, nullptr, 0, nullptr, 0, nullptr, 0) : nullptr;
    if (!d) {
        tx->fail = true;
        return ENOMEM_;
    }
    replace_entry(tx, e, d);
    d->flags |= T_DELETED;
    arena_.free(e);
    return OK;
}

// ---------------------------------------------------------------------------------------------
// Accounting.

Xenstored::Domain* Xenstored::domain(u32 domid, bool create) {
    if (Domain* d = find_domain(domid)) return d;
    if (!create) return nullptr;
    void* mem = arena_.alloc(sizeof(Domain));
    if (!mem) return nullptr;
    auto* d = new (mem) Domain{domains_, domid, 0, 0};
    domains_ = d;
    return d;
}

Xenstored::Domain* Xenstored::find_domain(u32 domid) const {
    for (Domain* d = domains_; d; d = d->next)
        if (d->domid == domid) return d;
    return nullptr;
}

u32 Xenstored::nodes_owned(u32 domid) const {
    const Domain* d = find_domain(domid);
    return d ? d->nodes : 0;
}

usize Xenstored::memory_used(u32 domid) const {
    const Domain* d = find_domain(domid);
    return d ? d->memory : 0;
}

// Tag 0 (domain 0, and work outside any request) is not accounted; nor is a domain without a
// record yet (its record is made when it is introduced).
bool Xenstored::charge(u32 tag, usize bytes) {
    Domain* d = tag ? find_domain(tag) : nullptr;
    if (!d) return true;
    if (d->memory + bytes > q_.memory) return false;
    d->memory += bytes;
    return true;
}

void Xenstored::credit(u32 tag, usize bytes) {
    if (Domain* d = tag ? find_domain(tag) : nullptr) d->memory -= bytes < d->memory ? bytes : d->memory;
}

int Xenstored::charge(Txn* tx, u32 owner, int delta) {
    if (tx) {
        for (Txn::Delta* d = tx->deltas; d; d = d->next)
            if (d->domid == owner) {
                d->delta += delta;
                return OK;
            }
        void* mem = arena_.alloc(sizeof(Txn::Delta));
        if (!mem) {
            tx->fail = true;
            return ENOMEM_;
        }
        tx->deltas = new (mem) Txn::Delta{tx->deltas, owner, delta};
        return OK;
    }
    Domain* d = domain(owner, true);
    if (!d) return ENOMEM_;
    if (delta < 0 && d->nodes < static_cast<u32>(-delta))
        d->nodes = 0;
    else
        d->nodes = static_cast<u32>(static_cast<int>(d->nodes) + delta);
    return OK;
}

u32 Xenstored::owned_now(const Conn& c, Txn* tx) const {
    long n = nodes_owned(c.domid);
    if (tx)
        for (Txn::Delta* d = tx->deltas; d; d = d->next)
            if (d->domid == c.domid) n += d->delta;
    return n < 0 ? 0 : static_cast<u32>(n);
}

// ---------------------------------------------------------------------------------------------
// Paths and permissions.

// The absolute path for a request's path (relative ones are below /local/domain/<domid>), into
// out (PATH_BUF bytes).  EINVAL for bad characters, '@' where no special path is allowed, a
// trailing or doubled '/', or a path too long.
int Xenstored::canonicalize(const Conn& c, const char* in, bool allow_special, char* out) const {
    if (!in) return EINVAL_;
    usize inlen = 0;
    for (; in[inlen]; ++inlen) {
        if (!valid_char(in[inlen])) return EINVAL_;
        if (inlen > XENSTORE_ABS_PATH_MAX) return EINVAL_;
    }
    if (in[0] == '@' && !allow_special) return EINVAL_;
    usize n = 0;
    if (in[0] != '/' && in[0] != '@') {
        const char base[] = "/local/domain/";
        mem_copy(out, base, sizeof(base) - 1);
        n = sizeof(base) - 1;
        n += put_u32(out + n, c.domid);
        out[n++] = '/';
    }
    if (n + inlen > XENSTORE_ABS_PATH_MAX) return EINVAL_;
    mem_copy(out + n, in, inlen);
    n += inlen;
    out[n] = 0;
    if (n > 1 && out[n - 1] == '/') return EINVAL_;
    if (n == 1 && out[0] == '/' ) return OK;
    for (usize i = 0; i + 1 < n; ++i)
        if (out[i] == '/' && out[i + 1] == '/') return EINVAL_;
    // The path-length quota counts below /local/domain/<id>/ (at most 5 digits), as xenstored.
    usize local_off = 0;
    StrView p(out, n);
    StrView pre("/local/domain/");
    if (p.starts_with(pre)) {
        usize i = pre.len, digits = 0;
        while (i < n && out[i] >= '0' && out[i] <= '9' && digits < 5) ++i, ++digits;
        if (digits && i < n && out[i] == '/') local_off = i + 1;
    }
    if (!privileged(c) && n - local_off > q_.path_len) return EINVAL_;
    return OK;
}

u8 Xenstored::perm_for(const Conn& c, const Perm* p, u32 n) const {
    if (n == 0) return 0;
    if (privileged(c) || p[0].domid == c.domid) return PERM_READ | PERM_WRITE | PERM_OWNER;
    for (u32 i = 1; i < n; ++i)
        if (p[i].domid == c.domid) return p[i].bits;
    return p[0].bits;
}

u8 Xenstored::perm_for(const Conn& c, const Rec& r) const { return perm_for(c, r.perms(), r.nperms); }

// A missing node: ENOENT if the nearest existing ancestor grants any of the bits asked for,
// else EACCES, so that the error tells nothing about a node one may not see.
int Xenstored::errno_from_parents(Conn& c, Txn* tx, const char* path, u8 want) {
    StrView p(path);
    while (!(p.len == 1 && p[0] == '/')) {
        p = parent_of(p);
        const Rec* r;
        if (int err = lookup(tx, p, &r)) return err;
        if (r) return (perm_for(c, *r) & want) ? ENOENT_ : EACCES_;
    }
    return EACCES_;
}

int Xenstored::get_node(Conn& c, Txn* tx, const char* path, u8 want, const Rec** out) {
    const Rec* r;
    if (int err = lookup(tx, StrView(path), &r)) return err;
    if (r && (perm_for(c, *r) & want) != want) return EACCES_;
    if (!r) return errno_from_parents(c, tx, path, want);
    *out = r;
    return OK;
}

// ---------------------------------------------------------------------------------------------
// Creating and removing nodes.

// Creates path (absent) and its missing ancestors, which inherit the nearest existing
// ancestor's permissions; an unprivileged creator owns what it creates.  All or nothing.
int Xenstored::create(Conn& c, Txn* tx, StrView path, const u8* value, u32 vlen) {
    const Rec* anc = nullptr;
    StrView cur = path;
    u32 k = 0;  // missing levels, path included
    while (!anc) {
        ++k;
        cur = parent_of(cur);
        if (int err = lookup(tx, cur, &anc)) return err;
        if (!anc && cur.len == 1) return XEN_EIO;  // no root: cannot happen
    }
    if (!privileged(c) && owned_now(c, tx) + k > q_.nodes) return ENOSPC_;

    Perm perms[64];
    u32 nperms = anc->nperms <= 64 ? anc->nperms : 64;
    mem_copy(perms, anc->perms(), nperms * sizeof(Perm));
    if (!privileged(c)) perms[0].domid = static_cast<u16>(c.domid);

    auto** recs = static_cast<Rec**>(arena_.alloc((k + 1) * sizeof(Rec*)));
    if (!recs) return ENOMEM_;
    u32 made = 0;
    int err = OK;
    // The ancestor with the first missing level added to its children.
    usize first_end = cur.len == 1 ? path.find('/', 1) : path.find('/', cur.len + 1);
    StrView first = basename_of(path.substr(0, first_end));
    {
        u32 clen = anc->children_len + static_cast<u32>(first.len) + 1;
        Rec* r = make_rec(anc->path(), anc->perms(), anc->nperms, anc->value(), anc->value_len,
                          nullptr, 0);
        // Re-make with room for the new child name.
        if (r) {
            arena_.free(r);
            char* kids = static_cast<char*>(arena_.alloc(clen));
            if (kids) {
                mem_copy(kids, anc->children(), anc->children_len);
                mem_copy(kids + anc->children_len, first.ptr, first.len);
                kids[clen - 1] = 0;
                r = make_rec(anc->path(), anc->perms(), anc->nperms, anc->value(),
                             anc->value_len, kids, clen);
                arena_.free(kids);
            } else {
                r = nullptr;
            }
        }
        if (!r) err = ENOMEM_;
        else if (too_big(c, *r)) {
            arena_.free(r);
            err = ENOSPC_;
        } else {
            recs[made++] = r;
        }
    }
    usize start = first_end;
    while (!err && made < k + 1) {
        StrView level = path.substr(0, start);
        bool last = start >= path.len;
        usize next_end = last ? path.len : path.find('/', start + 1);
        StrView child = last ? StrView() : basename_of(path.substr(0, next_end));
        // The child's name is followed by '/' in path: copy that byte too, then make it the NUL.
        Rec* r = make_rec(level, perms, nperms, last ? value : nullptr, last ? vlen : 0,
                          last ? nullptr : child.ptr, last ? 0 : static_cast<u32>(child.len + 1));
        if (r && !last) const_cast<char*>(r->children())[child.len] = 0;
        if (!r) {
            err = ENOMEM_;
        } else if (too_big(c, *r)) {
            arena_.free(r);
            err = ENOSPC_;
        } else {
            recs[made++] = r;
        }
        start = next_end;
    }
    if (!err) err = charge(tx, perms[0].domid, static_cast<int>(k));
    if (err) {
        for (u32 i = 0; i < made; ++i) arena_.free(recs[i]);
        arena_.free(recs);
        return err;
    }
    if (tx) tx->created = true;
    for (u32 i = 0; i < made && !err; ++i) err = install(c, tx, recs[i]);
    arena_.free(recs);
    return err;
}

// Removes path (existing, not "/") and everything below it, firing watches for each node
// removed (exactly for the ones below, as xenstored), then drops its name from its parent.
int Xenstored::remove_tree(Conn& c, Txn* tx, StrView path) {
    char* cur = scratch2_;
    for (;;) {
        // Down the first children to a leaf.
        mem_copy(cur, path.ptr, path.len);
        usize n = path.len;
        const Rec* r;
        for (;;) {
            if (int err = lookup(tx, StrView(cur, n), &r)) return err;
            if (!r) return XEN_EIO;
            if (r->children_len == 0) break;
            StrView child(r->children());
            if (n + 1 + child.len > XENSTORE_ABS_PATH_MAX) return XEN_EIO;
            cur[n++] = '/';
            mem_copy(cur + n, child.ptr, child.len);
            n += child.len;
        }
        StrView leaf(cur, n);
        bool root = n == path.len;
        fire(c, tx, leaf, !root, r, nullptr);
        u16 owner = r->owner();
        if (int err = remove(c, tx, leaf)) return err;
        (void)charge(tx, owner, -1);
        // Drop the leaf's name from its parent.
        StrView par = parent_of(leaf);
        StrView name = basename_of(leaf);
        const Rec* p;
        if (int err = lookup(tx, par, &p)) return err;
        if (!p) return XEN_EIO;
        char* kids = static_cast<char*>(arena_.alloc(p->children_len ? p->children_len : 1));
        if (!kids) return ENOMEM_;
        u32 klen = 0;
        for (u32 off = 0; off < p->children_len;) {
            StrView cn(p->children() + off);
            if (!cn.equals(name)) {
                mem_copy(kids + klen, cn.ptr, cn.len + 1);
                klen += static_cast<u32>(cn.len + 1);
            }
            off += static_cast<u32>(cn.len + 1);
        }
        Rec* np = make_rec(par, p->perms(), p->nperms, p->value(), p->value_len, kids, klen);
        arena_.free(kids);
        if (!np) {
            if (tx) tx->fail = true;
            return ENOMEM_;
        }
        if (int err = install(c, tx, np)) return err;
        if (root) return OK;
    }
}

// ---------------------------------------------------------------------------------------------
// Watches.

bool Xenstored::is_child(StrView child, StrView parent) const {
    if (parent.len == 1 && parent[0] == '/') return true;
    if (!child.starts_with(parent)) return false;
    return child.len == parent.len || child[parent.len] == '/';
}

// xenstored's watch_permitted: the watcher may read the node (before or after the change) or
// its parent.
bool Xenstored::watch_permitted(const Conn& w, StrView path, const Rec* node, const Rec* old) {
    if (old && (perm_for(w, *old) & PERM_READ)) return true;
    if (!node) node = tree_find(path);
    if (node && (perm_for(w, *node) & PERM_READ)) return true;
    if (!node && !old) return false;
    if (path.len == 1) return false;
    const Rec* par = tree_find(path[0] == '@' ? StrView("/", 1) : parent_of(path));
    return par && (perm_for(w, *par) & PERM_READ);
}

void Xenstored::fire(Conn&, Txn* tx, StrView path, bool exact, const Rec* node, const Rec* old) {
    if (tx) {  // queued until commit
        Rec* e = txn_entry(tx, path);
        if (!e) {
            tx->fail = true;
            return;
        }
        if (!(e->flags & T_FIRE)) {
            e->flags = static_cast<u8>(e->flags | T_FIRE);
            if (exact)
                e->flags = static_cast<u8>(e->flags | T_EXACT);
            else
                e->flags = static_cast<u8>(e->flags & ~T_EXACT);
        } else if (!exact) {
            e->flags = static_cast<u8>(e->flags & ~T_EXACT);
        }
        return;
    }
    // The permission is looked at only for a connection with a matching watch (as xenstored
    // does it when adding the event): a write costs no lookups for the many that watch elsewhere.
    for (Conn* w = conns_; w; w = w->next) {
        int permitted = -1;  // not looked at yet
        for (auto* wa = static_cast<Watch*>(w->watches); wa; wa = wa->next) {
            StrView wp(wa->path(), wa->path_len);
            if (!(exact ? path.equals(wp) : is_child(path, wp))) continue;
            if (permitted < 0) permitted = watch_permitted(*w, path, node, old) ? 1 : 0;
            if (!permitted) break;
            event(*w, path.substr(wa->prefix_len <= path.len ? wa->prefix_len : 0), wa->token());
        }
    }
}

// A node written: watches on it and above fire, with its new (and old) permissions.
void Xenstored::fire_changed(Conn& c, Txn* tx, StrView path, const Rec* old) {
    const Rec* now = nullptr;
    (void)lookup(tx, path, &now);
    fire(c, tx, path, false, now, old);
}

void Xenstored::fire_special(const char* name) {
    const Rec* node = tree_find(StrView(name));
    if (!node || !conns_) return;
    fire(*conns_, nullptr, StrView(name), true, node, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Output.

// A message of a, then (for events) one NUL, then b.
bool Xenstored::enqueue(Conn& c, u32 type, u32 req_id, u32 tx_id, const void* a, u32 alen,
                        const void* b, u32 blen, bool is_event) {
    u32 gap = is_event ? 1 : 0;
    u32 len = alen + gap + blen;
    if (is_event) {
        if (!privileged(c) && c.out_bytes + sizeof(xsd_sockmsg) + len > q_.out_bytes)
            return false;
        // An identical event still queued makes this one redundant (xenstored drops it too).
        if (alen && static_cast<const char*>(a)[0] != '@')
            for (OutMsg* m = c.out_head; m; m = m->next)
                if (m->hdr.type == XS_WATCH_EVENT && m->hdr.len == len &&
                    mem_compare(m->data(), a, alen) == 0 && m->data()[alen] == 0 &&
                    mem_compare(m->data() + alen + 1, b, blen) == 0)
                    return true;
    }
    // A reply may dip into domain 0's reserve, so that every request gets one: there is one
    // reply a request, and a domain whose output is over its quota is not read.
    // Output is charged to nobody (the output quota bounds it).
    const usize limit = arena_.limit();
    const u32 tag = arena_.tag();
    if (!is_event) arena_.set_limit(arena_.capacity());
    arena_.set_tag(0);
    void* mem = arena_.alloc(sizeof(OutMsg) + len);
    arena_.set_limit(limit);
    arena_.set_tag(tag);
    if (!mem) return false;
    auto* m = new (mem) OutMsg{nullptr, xsd_sockmsg{type, req_id, tx_id, len}};
    if (alen) mem_copy(m->data(), a, alen);
    if (gap) m->data()[alen] = 0;
    if (blen) mem_copy(m->data() + alen + gap, b, blen);
    if (c.out_tail)
        c.out_tail->next = m;
    else
        c.out_head = m;
    c.out_tail = m;
    c.out_bytes += static_cast<u32>(sizeof(xsd_sockmsg) + len);
    return true;
}

void Xenstored::reply(Conn& c, const xsd_sockmsg& req, u32 type, const void* data, u32 len) {
    if (len > XENSTORE_PAYLOAD_MAX) {
        reply_error(c, req, E2BIG_);
        return;
    }
    enqueue(c, type, req.req_id, req.tx_id, data, len, nullptr, 0, false);
}

void Xenstored::reply_error(Conn& c, const xsd_sockmsg& req, int err) {
    StrView s(error_string(err));
    enqueue(c, XS_ERROR, req.req_id, req.tx_id, s.ptr, static_cast<u32>(s.len + 1), nullptr, 0,
            false);
}

void Xenstored::event(Conn& c, StrView p, const char* token) {
    StrView t(token);
    if (p.len + t.len + 2 > XENSTORE_PAYLOAD_MAX) return;
    enqueue(c, XS_WATCH_EVENT, 0, 0, p.ptr, static_cast<u32>(p.len), t.ptr,
            static_cast<u32>(t.len + 1), true);
}

const OutMsg* Xenstored::peek_output(u32 domid) const {
    Conn* c = find_conn(domid);
    return c ? c->out_head : nullptr;
}

void Xenstored::pop_output(u32 domid) {
    Conn* c = find_conn(domid);
    if (!c || !c->out_head) return;
    OutMsg* m = c->out_head;
    c->out_head = m->next;
    if (!c->out_head) c->out_tail = nullptr;
    c->out_bytes -= static_cast<u32>(sizeof(xsd_sockmsg) + m->hdr.len);
    arena_.free(m);
}

u32 Xenstored::output_bytes(u32 domid) const {
    Conn* c = find_conn(domid);
    return c ? c->out_bytes : 0;
}

// ---------------------------------------------------------------------------------------------
// Connections.

Conn* Xenstored::find_conn(u32 domid) const {
    for (Conn* c = conns_; c; c = c->next)
        if (c->domid == domid) return c;
    return nullptr;
}

Conn* Xenstored::new_conn(u32 domid) {
    if (!domain(domid, true)) return nullptr;  // its accounts, before anything is charged
    void* mem = arena_.alloc(sizeof(Conn));
    if (!mem) return nullptr;
    auto* c = new (mem) Conn{};
    c->domid = domid;
    c->next_txid = 1;
    // Appended: domain 0's connection stays first.
    Conn** l = &conns_;
    while (*l) l = &(*l)->next;
    *l = c;
    return c;
}

void Xenstored::drop_watches_and_txns(Conn& c) {
    while (auto* w = static_cast<Watch*>(c.watches)) {
        c.watches = w->next;
        arena_.free(w);
    }
    c.nwatches = 0;
    while (c.txns) free_txn(c, c.txns);
}

void Xenstored::reset_conn(Conn& c) {
    drop_watches_and_txns(c);
    while (c.out_head) pop_output(c.domid);
}

void Xenstored::drop_conn(Conn* c) {
    reset_conn(*c);
    Conn** l = &conns_;
    while (*l != c) l = &(*l)->next;
    *l = c->next;
    arena_.free(c);
}

// ---------------------------------------------------------------------------------------------
// Transactions.

Txn* Xenstored::find_txn(Conn& c, u32 id) const {
    for (Txn* t = c.txns; t; t = t->next)
        if (t->id == id) return t;
    return nullptr;
}

void Xenstored::free_txn(Conn& c, Txn* tx) {
    while (Rec* e = tx->entries) {
        tx->entries = e->tnext;
        arena_.free(e);
    }
    while (Txn::Delta* d = tx->deltas) {
        tx->deltas = d->next;
        arena_.free(d);
    }
    Txn** l = &c.txns;
    while (*l != tx) l = &(*l)->next;
    *l = tx->next;
    --c.ntxns;
    arena_.free(tx);
}

int Xenstored::commit(Conn& c, Txn* tx) {
    if (tx->fail) return ENOMEM_;
    for (Rec* e = tx->entries; e; e = e->tnext) {
        if (!(e->flags & T_CHECK)) continue;
        Rec* g = tree_find(e->path());
        if ((g ? g->gen : NO_GEN) != e->gen) return EAGAIN_;
    }
    if (!privileged(c) && tx->created)
        for (Txn::Delta* d = tx->deltas; d; d = d->next)
            if (d->delta > 0 && nodes_owned(d->domid) + static_cast<u32>(d->delta) > q_.nodes)
                return ENOSPC_;
    for (Txn::Delta* d = tx->deltas; d; d = d->next) {
        Domain* dom = domain(d->domid, true);
        if (!dom) return ENOMEM_;  // nothing applied yet
    }
    // Apply: modified entries move into the tree; the records they replace wait in aux for the
    // watch checks (which look at the permissions before and after).
    for (Rec* e = tx->entries; e; e = e->tnext) {
        if (!(e->flags & T_MODIFIED)) continue;
        e->aux = tree_unlink(e->path());
        if (!(e->flags & T_DELETED)) {
            e->gen = ++generation_;
            tree_link(e);
            e->flags = static_cast<u8>(e->flags | T_MOVED);
        }
    }
    for (Txn::Delta* d = tx->deltas; d; d = d->next) (void)charge(nullptr, d->domid, d->delta);
    for (Rec* e = tx->entries; e; e = e->tnext)
        if (e->flags & T_FIRE)
            fire(c, nullptr, e->path(), (e->flags & T_EXACT) != 0,
                 (e->flags & T_MOVED) ? e : nullptr, e->aux);
    // Hand the moved entries to the tree for good; free_txn frees the rest.
    Rec** l = &tx->entries;
    while (Rec* e = *l) {
        arena_.free(e->aux);
        e->aux = nullptr;
        if (e->flags & T_MOVED) {
            *l = e->tnext;
            e->tnext = nullptr;
            e->flags = 0;
        } else {
            l = &e->tnext;
        }
    }
    tx->last = nullptr;
    return OK;
}

// ---------------------------------------------------------------------------------------------
// Requests.

void Xenstored::handle(u32 domid, const xsd_sockmsg& hdr, const void* payload, u32 len) {
    Conn* c = find_conn(domid);
    if (!c) return;
    const char* d = static_cast<const char*>(payload);
    if (len > XENSTORE_PAYLOAD_MAX) len = XENSTORE_PAYLOAD_MAX;
    u32 type = hdr.type;
    bool known = type < XS_TYPE_COUNT && type != XS_WATCH_EVENT && type != XS_ERROR;
    if (!known || type == XS_CONTROL || type == XS_RESUME || type == XS_SET_TARGET ||
        type == XS_DIRECTORY_PART) {
        reply_error(*c, hdr, ENOSYS_);
        return;
    }
    bool priv_only = type == XS_INTRODUCE || type == XS_RELEASE || type == XS_IS_DOMAIN_INTRODUCED;
    if (priv_only && !privileged(*c)) {
        reply_error(*c, hdr, EACCES_);
        return;
    }
    Txn* tx = nullptr;
    if (type != XS_WATCH && type != XS_UNWATCH && hdr.tx_id != 0) {
        tx = find_txn(*c, hdr.tx_id);
        if (!tx) {
            reply_error(*c, hdr, ENOENT_);
            return;
        }
    }
    req_ = &hdr;
    cur_conn_ = c;
    // Unprivileged requests stay out of domain 0's reserve (the last eighth of the arena), and
    // what they allocate is charged to their domain.
    arena_.set_limit(privileged(*c) ? arena_.capacity() : arena_.capacity() - arena_.capacity() / 8);
    arena_.set_tag(domid);
    int err = OK;
    switch (type) {
    case XS_READ: err = do_read(*c, tx, d, len); break;
    case XS_WRITE: err = do_write(*c, tx, d, len); break;
    case XS_MKDIR: err = do_mkdir(*c, tx, d, len); break;
    case XS_RM: err = do_rm(*c, tx, d, len); break;
    case XS_DIRECTORY: err = do_directory(*c, tx, d, len); break;
    case XS_GET_PERMS: err = do_get_perms(*c, tx, d, len); break;
    case XS_SET_PERMS: err = do_set_perms(*c, tx, d, len); break;
    case XS_WATCH: err = do_watch(*c, d, len); break;
    case XS_UNWATCH: err = do_unwatch(*c, d, len); break;
    case XS_TRANSACTION_START: err = do_transaction_start(*c, tx); break;
    case XS_TRANSACTION_END: err = do_transaction_end(*c, tx, d, len); break;
    case XS_INTRODUCE: err = do_introduce(d, len); break;
    case XS_RELEASE: err = do_release(d, len); break;
    case XS_GET_DOMAIN_PATH: err = do_get_domain_path(d, len); break;
    case XS_IS_DOMAIN_INTRODUCED: err = do_is_domain_introduced(d, len); break;
    case XS_RESET_WATCHES: err = do_reset_watches(*c); break;
    default: err = ENOSYS_; break;
    }
    if (err) reply_error(*c, hdr, err);
    arena_.set_limit(arena_.capacity());
    arena_.set_tag(0);
}

void Xenstored::send(Conn& c, const void* data, u32 len) { reply(c, *req_, req_->type, data, len); }
void Xenstored::ack(Conn& c) { send(c, "OK", 3); }

int Xenstored::do_read(Conn& c, Txn* tx, const char* d, u32 len) {
    if (int err = canonicalize(c, onearg(d, len), false, scratch_)) return err;
    const Rec* r;
    if (int err = get_node(c, tx, scratch_, PERM_READ, &r)) return err;
    send(c, r->value(), r->value_len);
    return OK;
}

int Xenstored::do_directory(Conn& c, Txn* tx, const char* d, u32 len) {
    if (int err = canonicalize(c, onearg(d, len), false, scratch_)) return err;
    const Rec* r;
    if (int err = get_node(c, tx, scratch_, PERM_READ, &r)) return err;
    send(c, r->children(), r->children_len);
    return OK;
}

int Xenstored::do_write(Conn& c, Txn* tx, const char* d, u32 len) {
    if (count_strings(d, len) < 1) return EINVAL_;
    StrView path(d);
    u32 off = static_cast<u32>(path.len + 1);
    const u8* value = reinterpret_cast<const u8*>(d + off);
    u32 vlen = len - off;
    if (int err = canonicalize(c, d, false, scratch_)) return err;
    StrView name(scratch_);
    const Rec* r = nullptr;
    int err = get_node(c, tx, scratch_, PERM_WRITE, &r);
    if (err == ENOENT_) {
        err = create(c, tx, name, value, vlen);
    } else if (!err) {
        Rec* n = make_rec(name, r->perms(), r->nperms, value, vlen, r->children(), r->children_len);
        if (!n) return ENOMEM_;
        if (too_big(c, *n)) {
            arena_.free(n);
            return ENOSPC_;
        }
        err = install(c, tx, n);
    }
    if (err) return err;
    fire_changed(c, tx, name, nullptr);
    ack(c);
    return OK;
}

int Xenstored::do_mkdir(Conn& c, Txn* tx, const char* d, u32 len) {
    if (int err = canonicalize(c, onearg(d, len), false, scratch_)) return err;
    StrView name(scratch_);
    const Rec* r = nullptr;
    int err = get_node(c, tx, scratch_, PERM_WRITE, &r);
    if (err == ENOENT_) {
        if ((err = create(c, tx, name, nullptr, 0))) return err;
        fire_changed(c, tx, name, nullptr);
    } else if (err) {
        return err;
    }
    ack(c);
    return OK;
}

int Xenstored::do_rm(Conn& c, Txn* tx, const char* d, u32 len) {
    if (int err = canonicalize(c, onearg(d, len), false, scratch_)) return err;
    StrView name(scratch_);
    const Rec* r = nullptr;
    int err = get_node(c, tx, scratch_, PERM_WRITE, &r);
    if (err == ENOENT_) {
        // Not there: fine if the parent is (xenstored's rule).
        const Rec* p = nullptr;
        if (name.len > 1 && !lookup(tx, parent_of(name), &p) && p) {
            ack(c);
            return OK;
        }
        return ENOENT_;
    }
    if (err) return err;
    if (name.len == 1) return EINVAL_;
    if ((err = remove_tree(c, tx, name))) return err;
    ack(c);
    return OK;
}

int Xenstored::do_get_perms(Conn& c, Txn* tx, const char* d, u32 len) {
    if (int err = canonicalize(c, onearg(d, len), true, scratch_)) return err;
    const Rec* r;
    if (int err = get_node(c, tx, scratch_, PERM_READ, &r)) return err;
    char* out = scratch2_;
    u32 n = 0;
    for (u32 i = 0; i < r->nperms && n + 8 < PATH_BUF; ++i) {
        static const char letters[] = "nrwb";
        out[n++] = letters[r->perms()[i].bits & 3];
        n += static_cast<u32>(put_u32(out + n, r->perms()[i].domid));
        out[n++] = 0;
    }
    send(c, out, n);
    return OK;
}

int Xenstored::do_set_perms(Conn& c, Txn* tx, const char* d, u32 len) {
    u32 nstr = count_strings(d, len);
    if (nstr < 2) return EINVAL_;
    u32 nperms = nstr - 1;
    if (!privileged(c) && nperms > q_.perms) return ENOSPC_;
    auto* perms = static_cast<Perm*>(arena_.alloc(nperms * sizeof(Perm)));
    if (!perms) return ENOMEM_;
    const char* s = d + StrView(d).len + 1;
    int err = OK;
    for (u32 i = 0; i < nperms && !err; ++i) {
        StrView str(s);
        u8 bits = 0;
        switch (str.len ? str[0] : 0) {
        case 'n': bits = 0; break;
        case 'r': bits = PERM_READ; break;
        case 'w': bits = PERM_WRITE; break;
        case 'b': bits = PERM_READ | PERM_WRITE; break;
        default: err = EINVAL_;
        }
        u64 id = 0;
        if (!err && (str.len < 2 || !pv::parse_u64(str.substr(1), &id) || id > 0xffff ||
                     str[1] < '0' || str[1] > '9'))
            err = EINVAL_;
        perms[i] = Perm{static_cast<u16>(id), bits, 0};
        s += str.len + 1;
    }
    const Rec* r = nullptr;
    if (!err) err = canonicalize(c, d, true, scratch_);
    if (!err) err = get_node(c, tx, scratch_, PERM_WRITE | PERM_OWNER, &r);
    // Only domain 0 may give a node away.
    if (!err && !privileged(c) && perms[0].domid != r->owner()) err = EPERM_;
    Rec* n = nullptr;
    if (!err) {
        n = make_rec(r->path(), perms, nperms, r->value(), r->value_len, r->children(),
                     r->children_len);
        if (!n) err = ENOMEM_;
        else if (too_big(c, *n)) err = ENOSPC_;
    }
    arena_.free(perms);
    if (err) {
        arena_.free(n);
        return err;
    }
    StrView name(scratch_);
    u16 old_owner = r->owner(), new_owner = n->owner();
    // The old record goes away in install(); keep a copy of its permissions for the watchers
    // who could read it before.
    Rec* old = make_rec(name, r->perms(), r->nperms, nullptr, 0, nullptr, 0);
    if (!old) {
        arena_.free(n);
        return ENOMEM_;
    }
    if (name[0] != '@' && old_owner != new_owner) {
        if ((err = charge(tx, old_owner, -1)) || (err = charge(tx, new_owner, 1))) {
            arena_.free(n);
            arena_.free(old);
            return err;
        }
    }
    err = install(c, tx, n);
    if (!err) {
        fire_changed(c, tx, name, old);
        ack(c);
    }
    arena_.free(old);
    return err;
}

int Xenstored::do_watch(Conn& c, const char* d, u32 len) {
    if (count_strings(d, len) != 2) return EINVAL_;
    const char* token = d + StrView(d).len + 1;
    bool relative = d[0] != '/' && d[0] != '@';
    if (int err = canonicalize(c, d, true, scratch_)) return err;
    StrView path(scratch_), tok(token);
    for (auto* w = static_cast<Watch*>(c.watches); w; w = w->next)
        if (StrView(w->path(), w->path_len).equals(path) && tok.equals(StrView(w->token())))
            return EEXIST_;
    // xenstored compares the count before this watch with ">": one more than the quota fits.
    if (!privileged(c) && c.nwatches > q_.watches) return E2BIG_;
    void* mem = arena_.alloc(sizeof(Watch) + path.len + 1 + tok.len + 1);
    if (!mem) return ENOMEM_;
    auto* w = new (mem) Watch{};
    w->path_len = static_cast<u32>(path.len);
    char* p = const_cast<char*>(w->path());
    mem_copy(p, path.ptr, path.len + 1);
    mem_copy(p + path.len + 1, tok.ptr, tok.len + 1);
    w->prefix_len = 0;
    if (relative) {
        char base[32] = "/local/domain/";
        usize n = 14 + put_u32(base + 14, c.domid);
        w->prefix_len = static_cast<u32>(n + 1);
    }
    Watch** l = reinterpret_cast<Watch**>(&c.watches);
    while (*l) l = &(*l)->next;
    *l = w;
    ++c.nwatches;
    ack(c);
    event(c, StrView(w->path() + w->prefix_len), w->token());  // the initial event
    return OK;
}

int Xenstored::do_unwatch(Conn& c, const char* d, u32 len) {
    if (count_strings(d, len) != 2) return EINVAL_;
    StrView tok(d + StrView(d).len + 1);
    if (int err = canonicalize(c, d, true, scratch_)) return err;
    StrView path(scratch_);
    for (Watch** l = reinterpret_cast<Watch**>(&c.watches); *l; l = &(*l)->next) {
        Watch* w = *l;
        if (StrView(w->path(), w->path_len).equals(path) && tok.equals(StrView(w->token()))) {
            *l = w->next;
            arena_.free(w);
            --c.nwatches;
            ack(c);
            return OK;
        }
    }
    return ENOENT_;
}

int Xenstored::do_transaction_start(Conn& c, Txn* tx) {
    if (tx) return EBUSY_;  // no nesting
    // As xenstored: ">" on the count before, so quota + 1 transactions fit.
    if (!privileged(c) && c.ntxns > q_.transactions) return ENOSPC_;
    void* mem = arena_.alloc(sizeof(Txn));
    if (!mem) return ENOMEM_;
    auto* t = new (mem) Txn{};
    do {
        t->id = c.next_txid++;
    } while (t->id == 0 || find_txn(c, t->id));
    t->next = c.txns;
    c.txns = t;
    ++c.ntxns;
    char buf[12];
    usize n = put_u32(buf, t->id);
    buf[n++] = 0;
    send(c, buf, static_cast<u32>(n));
    return OK;
}

int Xenstored::do_transaction_end(Conn& c, Txn* tx, const char* d, u32 len) {
    const char* arg = onearg(d, len);
    if (!arg || (!StrView(arg).equals("T") && !StrView(arg).equals("F"))) return EINVAL_;
    if (!tx) return ENOENT_;
    // Unprivileged transactions are bounded by trans_nodes; privileged ones are not.
    int err = arg[0] == 'T' ? commit(c, tx) : OK;
    free_txn(c, tx);
    if (err) return err;
    ack(c);
    return OK;
}

int Xenstored::do_introduce(const char* d, u32 len) {
    if (count_strings(d, len) < 3) return EINVAL_;
    const char* s1 = d + StrView(d).len + 1;
    const char* s2 = s1 + StrView(s1).len + 1;
    u32 domid = atou(d);
    u64 mfn = atou(s1);
    u32 port = atou(s2);
    if (static_cast<int>(port) <= 0) return EINVAL_;
    if (domid == 0 || domid >= DOMID_FIRST_RESERVED) return EINVAL_;
    if (Conn* c = find_conn(domid)) {
        // Introducing again rebinds the ring and starts the connection afresh.
        reset_conn(*c);
        if (int err = backend_->connect(domid, mfn, port)) return err;
    } else {
        if (int err = backend_->connect(domid, mfn, port)) return err;
        if (!new_conn(domid)) {
            backend_->disconnect(domid);
            return ENOMEM_;
        }
        fire_special("@introduceDomain");
    }
    ack(*cur_conn_);
    return OK;
}

u32 Xenstored::connections_with_output(u32* out, u32 max) const {
    u32 n = 0;
    for (const Conn* c = conns_; c; c = c->next)
        if (c->out_head && n < max) out[n++] = c->domid;
    return n;
}

u32 Xenstored::connections(u32* out, u32 max) const {
    u32 n = 0;
    for (const Conn* c = conns_; c; c = c->next, ++n)
        if (n < max) out[n] = c->domid;
    return n;
}

void Xenstored::domain_gone(u32 domid) {
    Conn* c = find_conn(domid);
    if (domid == 0 || !c) return;
    drop_conn(c);
    backend_->disconnect(domid);
    fire_special("@releaseDomain");
}

int Xenstored::do_release(const char* d, u32 len) {
    const char* arg = onearg(d, len);
    if (!arg) return EINVAL_;
    u32 domid = atou(arg);
    if (domid == 0) return EINVAL_;
    if (!find_conn(domid)) return ENOENT_;
    domain_gone(domid);
    ack(*cur_conn_);
    return OK;
}

int Xenstored::do_get_domain_path(const char* d, u32 len) {
    const char* arg = onearg(d, len);
    if (!arg) return EINVAL_;
    char buf[32] = "/local/domain/";
    usize n = 14 + put_u32(buf + 14, atou(arg));
    buf[n++] = 0;
    send(*cur_conn_, buf, static_cast<u32>(n));
    return OK;
}

int Xenstored::do_is_domain_introduced(const char* d, u32 len) {
    const char* arg = onearg(d, len);
    if (!arg) return EINVAL_;
    u32 domid = atou(arg);
    bool yes = domid == DOMID_SELF || find_conn(domid) != nullptr;
    send(*cur_conn_, yes ? "T" : "F", 2);
    return OK;
}

int Xenstored::do_reset_watches(Conn& c) {
    drop_watches_and_txns(c);
    ack(c);
    return OK;
}

}  // namespace xs
