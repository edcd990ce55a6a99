// The part of a toolstack dom0 has today (issue 6 grows it into xl): a domain's life as libxl
// leads it.  create(): the builder (guest/lib/builder) lays the domain out and seeds its grant
// table, with buffers from domain 0's own spare frames (own_memory.hpp) when the domain's p2m or
// a compressed kernel needs them; the domain's XenStore directory is written (libxl__domain_make
// and build_post: name, domid, memory, cpu availability, store and console frontend entries,
// the directories the domain owns); the
// domain is INTRODUCEd to xenstored with its store page and port, and its console attached.  The
// domain stays paused until unpause().  destroy(): XEN_DOMCTL_destroydomain, then what
// VIRQ_DOM_EXC brings (xenstored releases the dying domain), the console detached, the
// directory removed, and the domain waited out of getdomaininfo.
#pragma once
#include "guest/dom0/console.hpp"
#include "guest/dom0/store.hpp"
#include "guest/lib/builder/builder.hpp"
#include "guest/lib/builder/foreign.hpp"

namespace dom0 {

struct DomainSpec {
    const char* name = "";
    const u8* kernel = nullptr;
    usize kernel_size = 0;
    const u8* ramdisk = nullptr;
    usize ramdisk_size = 0;
    u64 memory = 0;  // bytes: the domain's pages at start, and its max_pages (+ 1 MiB)
    u64 maxmem = 0;  // bytes: memory/static-max, what the guest may balloon up to (>= memory)
    u32 max_vcpus = 1;
    u32 vcpus = 1;   // vCPUs 0..vcpus-1 start with cpu/<n>/availability "online", the rest "offline"
    const char* cmdline = "";
};

class Toolstack {
public:
    Toolstack(const start_info_t* si, StoreService& store, ConsoleService& console);

    pv::Result<domid_t> create(const DomainSpec& spec, pv::Diagnostics& diags);
    pv::Result<void> unpause(domid_t dom, pv::Diagnostics& diags) { return pvb::unpause(dom, diags); }
    pv::Result<void> destroy(domid_t dom, pv::Diagnostics& diags);

    // A split device between two domUs, as libxl writes one: the frontend's directory
    // /local/domain/<front>/device/<type>/0 and the backend's
    // /local/domain/<back>/backend/<type>/<front>/0, each owned by its domain and readable by
    // the other, naming each other, state Initialising.
    int add_device(const char* type, domid_t front, domid_t back);

    // Domain 0's spare memory (also where xenstored's arena grows: main.cpp).
    pvb::OwnMemory& own_memory() { return scratch_; }

private:
    int write_tree(domid_t dom, const DomainSpec& spec, const pvb::BuiltDomain& built);

    // The builder's buffers when the domain outgrows its own: the p2m of a domain over
    // pvb::STATIC_P2M_PAGES, a compressed kernel's ELF.
    pv::Result<void> scratch(const DomainSpec& spec, pvb::BuildConfig& cfg, pv::Diagnostics& diags);

    const start_info_t* si_;
    StoreService& store_;
    ConsoleService& console_;
    pvb::OwnPageTables own_tables_;
    pvb::OwnMemory scratch_;
};

}  // namespace dom0
