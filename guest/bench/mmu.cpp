// Page-table metrics: mmu_update of 1 and of 512 PTEs, pin+unpin of an L4 with a populated tree,
// update_va_mapping with UVMF_INVLPG.
//
// Every iteration changes what the entries map (between two sets of frames from the pools in
// bench.hpp), so the hypervisor takes and drops references as Linux's updates make it do; an
// update to an identical value could take a shortcut.  The data pages are mapped writable and
// user-accessible, as a process's memory.
#include "guest/bench/bench.hpp"

namespace bench {
namespace {

constexpr unsigned TREE_L1S = 4;  // 4 x 512 PTEs: 8 MiB mapped under the pinned L4

alignas(4096) constinit u64 tree_l4[512];
alignas(4096) constinit u64 tree_l3[512];
alignas(4096) constinit u64 tree_l2[512];
alignas(4096) constinit u64 tree_l1[TREE_L1S][512];
alignas(4096) constinit u64 upd_l1[512];  // pinned as an L1 for mmu_update, not hooked anywhere
alignas(4096) constinit char uvm_page[4096];
constinit mmu_update_t req_a[512];
constinit mmu_update_t req_b[512];

u64 entry(u64 pfn, u64 flags) { return (mfn_of_pfn(pfn) << PAGE_SHIFT) | flags; }

long mmuext(unsigned cmd, u64 mfn) { return hc::mmuext1(cmd, mfn); }

bool build_tree() {
    tree_l4[0] = (mfn_of(tree_l3) << PAGE_SHIFT) | PTE_TABLE;
    tree_l3[0] = (mfn_of(tree_l2) << PAGE_SHIFT) | PTE_TABLE;
    for (unsigned i = 0; i < TREE_L1S; ++i) {
        tree_l2[i] = (mfn_of(tree_l1[i]) << PAGE_SHIFT) | PTE_TABLE;
        for (unsigned j = 0; j < 512; ++j) tree_l1[i][j] = entry(POOL_TREE + i * 512 + j, PTE_DATA);
    }
    long rc = make_readonly(tree_l4) | make_readonly(tree_l3) | make_readonly(tree_l2);
    for (auto& l1 : tree_l1) rc |= make_readonly(l1);
    if (rc) report_error("pin_unpin_l4_tree", "remapping the tables read-only: %ld", rc);
    return rc == 0;
}

bool build_update_table() {
    long rc = make_readonly(upd_l1);
    if (rc == 0) rc = mmuext(MMUEXT_PIN_L1_TABLE, mfn_of(upd_l1));
    if (rc) {
        report_error("mmu_update_1", "preparing a pinned L1: %ld", rc);
        report_error("mmu_update_512", "preparing a pinned L1: %ld", rc);
        return false;
    }
    for (unsigned i = 0; i < 512; ++i) {
        req_a[i].ptr = maddr_of(&upd_l1[i]) | MMU_NORMAL_PT_UPDATE;
        req_a[i].val = entry(POOL_UPD_A + i, PTE_DATA);
        req_b[i].ptr = req_a[i].ptr;
        req_b[i].val = entry(POOL_UPD_B + i, PTE_DATA);
    }
    return true;
}

// One batch of `count` updates, alternating between the two sets of requests.
bool update(const char* metric, unsigned count) {
    static constinit bool flip = false;
    flip = !flip;
    unsigned done = 0;
    long rc = hc::mmu_update(flip ? req_a : req_b, count, &done, DOMID_SELF);
    if (rc == 0 && done == count) return true;
    report_error(metric, "mmu_update: %ld, %u of %u done", rc, done, count);
    return false;
}

}  // namespace

void bench_mmu() {
    if (build_update_table()) {
        run("mmu_update_1", 200, 2000, [] { return update("mmu_update_1", 1); });
        run("mmu_update_512", 20, 200, [] { return update("mmu_update_512", 512); });
    }

    if (build_tree()) {
        run("pin_unpin_l4_tree", 10, 100, [] {
            long pin = mmuext(MMUEXT_PIN_L4_TABLE, mfn_of(tree_l4));
            long unpin = pin ? 0 : mmuext(MMUEXT_UNPIN_TABLE, mfn_of(tree_l4));
            if (pin == 0 && unpin == 0) return true;
            report_error("pin_unpin_l4_tree", "pin %ld, unpin %ld", pin, unpin);
            return false;
        });
    }

    const u64* e = l1e_ptr(va(uvm_page));
    if (!e) {
        report_error("update_va_mapping_invlpg", "no L1 entry for the page");
        return;
    }
    static constinit u64 ptes[2];
    ptes[0] = *e;
    ptes[1] = (*e & ~PTE_ADDR) | (mfn_of_pfn(POOL_UVM) << PAGE_SHIFT);
    static constinit unsigned which = 0;
    run("update_va_mapping_invlpg", 200, 2000, [] {
        which ^= 1;
        long rc = hc::update_va_mapping(va(uvm_page), ptes[which], UVMF_INVLPG | UVMF_LOCAL);
        if (rc == 0) return true;
        report_error("update_va_mapping_invlpg", "update_va_mapping: %ld", rc);
        return false;
    });
    hc::update_va_mapping(va(uvm_page), ptes[0], UVMF_INVLPG | UVMF_LOCAL);
}

}  // namespace bench
