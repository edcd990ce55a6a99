// The part of a toolstack dom0 has today (issue 6 grows it into xl): a domain's life as libxl
// leads it.  create(): the builder (guest/lib/builder) lays the domain out and seeds its grant
// table; the domain's XenStore directory is written (libxl__domain_make and build_post: name,
// domid, memory, store and console frontend entries, the directories the domain owns); the
// domain is INTRODUCEd to xenstored with its store page and port, and its console attached.  The
// domain stays paused until unpause().  destroy(): XEN_DOMCTL_destroydomain, then what
// VIRQ_DOM_EXC brings (xenstored releases the dying domain), the console detached, the
// directory removed, and the domain waited out of getdomaininfo.
#pragma once
#include "guest/dom0/console.hpp"
#include "guest/dom0/store.hpp"
#include "guest/lib/builder/builder.hpp"

namespace dom0 {

struct DomainSpec {
    const char* name = "";
    const u8* kernel = nullptr;
    usize kernel_size = 0;
    const u8* ramdisk = nullptr;
    usize ramdisk_size = 0;
    u64 memory = 0;  // bytes
    const char* cmdline = "";
};

class Toolstack {
public:
    Toolstack(const start_info_t* si, StoreService& store, ConsoleService& console)
        : si_(si), store_(store), console_(console) {}

    pv::Result<domid_t> create(const DomainSpec& spec, pv::Diagnostics& diags);
    pv::Result<void> unpause(domid_t dom, pv::Diagnostics& diags) { return pvb::unpause(dom, diags); }
    pv::Result<void> destroy(domid_t dom, pv::Diagnostics& diags);

    // A split device between two domUs, as libxl writes one: the frontend's directory
    // /local/domain/<front>/device/<type>/0 and the backend's
    // /local/domain/<back>/backend/<type>/<front>/0, each owned by its domain and readable by
    // the other, naming each other, state Initialising.
    int add_device(const char* type, domid_t front, domid_t back);

private:
    int write_tree(domid_t dom, const DomainSpec& spec, const pvb::BuiltDomain& built);

    const start_info_t* si_;
    StoreService& store_;
    ConsoleService& console_;
};

}  // namespace dom0
