// The PV memory hypercalls (mmu_update, mmuext_op, update_va_mapping) on top of the
// arch-neutral reference and type engine (core/pv_mmu.hpp), and the x86 environment that
// engine runs in: the frame table, the direct map, TLB flushes, the hypervisor's L4 slots.
#include <arch/cpu.hpp>
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>
#include <arch/percpu.hpp>
#include <arch/smp.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/pv_mmu.hpp"
#include "core/ratelimit.hpp"
#include <arch/time.hpp>
#include "lib/string.hpp"

namespace pv::arch::pv {
namespace {

class X86MmEnv {
public:
    PageInfo* ram_frame(u64 mfn) const {
        // Every frame the frame table covers is RAM or a hole below the top of RAM; frames the
        // hypervisor never gave a domain have count 0, which keeps guests away from them.
        if (mfn >= mm::frames().nr_frames()) return nullptr;
        return reinterpret_cast<PageInfo*>(FRAMETABLE_VIRT_START) + mfn;
    }
    u64* table(u64 mfn) const { return static_cast<u64*>(phys_to_virt(mfn << PAGE_SHIFT)); }
    bool io_mapping_permitted(Owner d, u64 mfn) const {
        // Domain 0 may map device memory, but not the interrupt controllers the hypervisor
        // drives (I/O APIC, HPET, local APIC: 0xfec00000-0xfeffffff).
        u64 pa = mfn << PAGE_SHIFT;
        return d == dom0_owner() && mfn < max_io_mfn() && !(pa >= 0xfec00000 && pa < 0xff000000);
    }
    bool cache_attrs_permitted(Owner d) const { return d == dom0_owner(); }
    void free_frame(u64 mfn, Owner) { (void)mm::frames().free(mfn, 0); }
    void flush_for_type_change(u64, Owner) {
        // A domain runs on one CPU (this one) for now: a local flush reaches every TLB entry.
        write_cr3(read_cr3());
    }
    void init_hypervisor_l4_slots(u64 mfn) { fill_hypervisor_l4_slots(table(mfn)); }

    static Owner dom0_owner() { return static_cast<Owner>(1); }
    // Frames beyond the CPU's physical address width exist nowhere (as Xen bounds dom0's I/O
    // memory by paddr_bits).
    static u64 max_io_mfn() {
        static u64 limit = 0;
        if (!limit) {
            unsigned bits = (cpuid(0x80000000).eax >= 0x80000008) ? (cpuid(0x80000008).eax & 0xff) : 36;
            limit = u64{1} << (bits - PAGE_SHIFT);
        }
        return limit;
    }
};
static_assert(MmEnv<X86MmEnv>);

X86MmEnv g_env;
PvMmu<X86MmEnv> g_mmu(g_env);

constexpr long err(Errno e) { return -static_cast<long>(e); }
using smp::zero_page;

void flush_local() { write_cr3(read_cr3()); }

// The L1 entry slot mapping va in the guest's kernel tables, or an error.
Result<u64> l1_table_for(const PvVcpu& v, u64 va, unsigned* index) {
    u64 table = v.kernel_cr3 >> PAGE_SHIFT;
    for (unsigned level = 4; level > 1; --level) {
        u64 e = g_env.table(table)[(va >> (12 + 9 * (level - 1))) & 511];
        if (!(e & paging::PTE_P) || (e & paging::PTE_PS)) return error(XEN_EINVAL);
        table = (e & paging::PTE_ADDR) >> PAGE_SHIFT;
        if (table >= mm::frames().nr_frames()) return error(XEN_EINVAL);
    }
    *index = static_cast<unsigned>((va >> 12) & 511);
    return table;
}

// Refusals are logged with the domain, rate-limited: the guest decides how many there are.
RateLimit g_refusal_log(20, 5);
void log_refusal(const PvDomain& d, const char* what, u64 arg, Errno e) {
    u64 dropped = 0;
    if (!g_refusal_log.allow(time::since_boot_ns(), &dropped)) return;
    if (dropped) pv_warn("(%lu similar messages suppressed)\n", dropped);
    pv_warn("d%u: %s %#lx refused: %s\n", d.id, what, arg, errno_name(e));
}

bool self_or_own(const PvVcpu& v, u64 domid) {
    return domid == DOMID_SELF || domid == v.domain->id;
}

}  // namespace

Owner owner_of(const PvDomain& d) { return static_cast<Owner>(d.id + 1); }

void fill_hypervisor_l4_slots(u64* l4) {
    const u64* hv_l4 = paging::table_virt(paging::hv_tables().root());
    for (unsigned s = 256; s < 272; ++s) l4[s] = hv_l4[s];
    l4[256] = m2p_l3_table() | paging::PTE_P | paging::PTE_U | paging::PTE_A;
}

Result<void> mmu_assign(PvDomain& d, u64 mfn) { return g_mmu.assign(mfn, owner_of(d)); }

Result<void> mmu_pin_root(PvDomain& d, u64 l4_mfn) {
    if (auto r = g_mmu.pin_table(owner_of(d), 4, l4_mfn); !r) return r;
    auto r = g_mmu.new_baseptr(owner_of(d), 0, l4_mfn);
    if (!r) return error(r.error());
    return ok();
}

long do_mmu_update(PvVcpu& v, const HypercallArgs& a) {
    u64 reqs = a.a1, count = a.a2, pdone = a.a3;
    if (!self_or_own(v, a.a4)) return err(XEN_ESRCH);  // foreign updates: issue 4
    if (count > 4096) return err(XEN_EINVAL);           // no continuations yet: bound the work
    Owner d = owner_of(*v.domain);
    long rc = 0;
    u64 done = 0;
    for (; done < count; ++done) {
        mmu_update_t req;
        if (!get_guest(req, reqs + done * sizeof req)) {
            rc = err(XEN_EFAULT);
            break;
        }
        unsigned cmd = req.ptr & 3;
        u64 mfn = req.ptr >> PAGE_SHIFT;
        if (cmd == MMU_NORMAL_PT_UPDATE || cmd == MMU_PT_UPDATE_PRESERVE_AD) {
            if (req.ptr & 4) {
                rc = err(XEN_EINVAL);
                break;
            }
            auto index = static_cast<unsigned>((req.ptr & (PAGE_SIZE - 1)) >> 3);
            if (auto r = g_mmu.update_entry(d, mfn, index, req.val, cmd == MMU_PT_UPDATE_PRESERVE_AD); !r) {
                log_refusal(*v.domain, "mmu_update of entry", req.val, r.error());
                rc = err(r.error());
                break;
            }
        } else if (cmd == MMU_MACHPHYS_UPDATE) {
            if (!g_mmu.get_page(mfn, d)) {
                rc = err(XEN_EINVAL);
                break;
            }
            m2p_set(mfn, req.val);
            g_mmu.put_page(mfn);
        } else {
            rc = err(XEN_ENOSYS);
            break;
        }
    }
    if (done) flush_local();
    if (pdone && !put_guest(pdone, static_cast<u32>(done))) return err(XEN_EFAULT);
    return rc;
}

long do_mmuext_op(PvVcpu& v, const HypercallArgs& a) {
    u64 ops = a.a1, count = a.a2, pdone = a.a3;
    if (!self_or_own(v, a.a4)) return err(XEN_ESRCH);
    if (count > 4096) return err(XEN_EINVAL);
    PvDomain& dom = *v.domain;
    Owner d = owner_of(dom);
    long rc = 0;
    u64 done = 0;
    for (; done < count && rc == 0; ++done) {
        mmuext_op_t op;
        if (!get_guest(op, ops + done * sizeof op)) {
            rc = err(XEN_EFAULT);
            break;
        }
        Result<void> r = ok();
        switch (op.cmd) {
        case MMUEXT_PIN_L1_TABLE:
        case MMUEXT_PIN_L2_TABLE:
        case MMUEXT_PIN_L3_TABLE:
        case MMUEXT_PIN_L4_TABLE:
            r = g_mmu.pin_table(d, op.cmd - MMUEXT_PIN_L1_TABLE + 1, op.arg1.mfn);
            break;
        case MMUEXT_UNPIN_TABLE:
            r = g_mmu.unpin_table(d, op.arg1.mfn);
            break;
        case MMUEXT_NEW_BASEPTR:
        case MMUEXT_NEW_USER_BASEPTR: {
            bool user = op.cmd == MMUEXT_NEW_USER_BASEPTR;
            if (!user && op.arg1.mfn == 0) {
                r = error(XEN_EINVAL);
                break;
            }
            u64& cr3 = user ? v.user_cr3 : v.kernel_cr3;
            auto old = g_mmu.new_baseptr(d, cr3 >> PAGE_SHIFT, op.arg1.mfn);
            if (!old) {
                r = error(old.error());
                break;
            }
            cr3 = op.arg1.mfn << PAGE_SHIFT;
            if (user == !v.kernel_mode && cr3) write_cr3(cr3);
            g_mmu.put_baseptr(*old);
            break;
        }
        case MMUEXT_TLB_FLUSH_LOCAL:
        case MMUEXT_TLB_FLUSH_MULTI:
        case MMUEXT_TLB_FLUSH_ALL:
            flush_local();  // every vCPU of the domain is on this CPU for now
            break;
        case MMUEXT_INVLPG_LOCAL:
        case MMUEXT_INVLPG_MULTI:
        case MMUEXT_INVLPG_ALL:
            if (guest_range_ok(op.arg1.linear_addr, 1)) invlpg(reinterpret_cast<void*>(op.arg1.linear_addr));
            break;
        case MMUEXT_FLUSH_CACHE:
            if (!dom.privileged) r = error(XEN_EPERM);
            else asm volatile("wbinvd" : : : "memory");
            break;
        case MMUEXT_SET_LDT: {
            // Recorded; the LDT is mapped lazily on first use (with the descriptor-table work).
            u64 base = op.arg1.linear_addr, ents = op.arg2.nr_ents;
            if (ents > 8192 || (base & (PAGE_SIZE - 1)) || !guest_range_ok(base, ents * 8)) r = error(XEN_EINVAL);
            break;
        }
        case MMUEXT_CLEAR_PAGE:
            if (auto g = g_mmu.get_page_and_type(op.arg1.mfn, d, PageType::writable); !g) {
                r = error(XEN_EINVAL);
            } else {
                mem_set(g_env.table(op.arg1.mfn), 0, PAGE_SIZE);
                g_mmu.put_page_and_type(op.arg1.mfn);
            }
            break;
        case MMUEXT_COPY_PAGE:
            if (!g_mmu.get_page(op.arg2.src_mfn, d)) {
                r = error(XEN_EINVAL);
            } else {
                if (auto g = g_mmu.get_page_and_type(op.arg1.mfn, d, PageType::writable); !g) {
                    r = error(XEN_EINVAL);
                } else {
                    mem_copy(g_env.table(op.arg1.mfn), g_env.table(op.arg2.src_mfn), PAGE_SIZE);
                    g_mmu.put_page_and_type(op.arg1.mfn);
                }
                g_mmu.put_page(op.arg2.src_mfn);
            }
            break;
        case MMUEXT_MARK_SUPER:
        case MMUEXT_UNMARK_SUPER:
            r = error(XEN_EOPNOTSUPP);  // superpage tracking is gone from Xen too (XSA-167)
            break;
        default:
            r = error(XEN_ENOSYS);
            break;
        }
        if (!r) {
            log_refusal(dom, "mmuext_op command", op.cmd, r.error());
            rc = err(r.error());
            break;
        }
    }
    if (pdone && !put_guest(pdone, static_cast<u32>(done))) return err(XEN_EFAULT);
    return rc;
}

long do_update_va_mapping(PvVcpu& v, const HypercallArgs& a) {
    u64 va = a.a1, val = a.a2, flags = a.a3;
    if (!guest_range_ok(va, 1)) return err(XEN_EINVAL);
    unsigned index = 0;
    auto l1 = l1_table_for(v, va, &index);
    if (!l1) return err(l1.error());
    if (auto r = g_mmu.update_entry(owner_of(*v.domain), *l1, index, val, false); !r) {
        log_refusal(*v.domain, "update_va_mapping of entry", val, r.error());
        return err(r.error());
    }
    switch (flags & UVMF_FLUSHTYPE_MASK) {
    case UVMF_TLB_FLUSH: flush_local(); break;
    case UVMF_INVLPG: invlpg(reinterpret_cast<void*>(va)); break;
    default: break;
    }
    return 0;
}

bool mmu_new_baseptr(PvVcpu& v, u64 mfn) {
    if (mfn == 0) return false;
    auto old = g_mmu.new_baseptr(owner_of(*v.domain), v.kernel_cr3 >> PAGE_SHIFT, mfn);
    if (!old) return false;
    v.kernel_cr3 = mfn << PAGE_SHIFT;
    if (v.kernel_mode) write_cr3(v.kernel_cr3);
    g_mmu.put_baseptr(*old);
    return true;
}

bool mmu_l1_slot(const PvVcpu& v, u64 va, u64* l1_mfn, unsigned* index) {
    auto r = l1_table_for(v, va, index);
    if (!r) return false;
    *l1_mfn = *r;
    return true;
}

u64 mmu_entry(u64 table_mfn, unsigned index) {
    return __atomic_load_n(&g_env.table(table_mfn)[index & 511], __ATOMIC_RELAXED);
}

bool mmu_owned_by(const PvDomain& d, u64 mfn) {
    PageInfo* pi = g_env.ram_frame(mfn);
    return pi && pi->count_info.load(std::memory_order_relaxed) != 0 && pi->use.owner == owner_of(d);
}

bool mmu_is_l1_table(const PvDomain& d, u64 mfn) {
    return mmu_owned_by(d, mfn) &&
           pgt::type(g_env.ram_frame(mfn)->use.type_info.load(std::memory_order_relaxed)) == PageType::l1;
}

bool mmu_write_entry(PvDomain& d, u64 table_mfn, unsigned index, u64 val) {
    return static_cast<bool>(g_mmu.update_entry(owner_of(d), table_mfn, index, val, false));
}

// set_gdt: up to 14 frames (7168 descriptors) of the guest's own, typed seg_desc (so no
// writable mapping of them may exist, and every descriptor passed the check), mapped read-only
// into the guest part of this CPU's GDT window (pages 0-13; desc.hpp).  The previous frames'
// references are dropped after the switch.
long do_set_gdt(PvVcpu& v, const HypercallArgs& a) {
    u64 list = a.a1, entries = a.a2;
    if (entries > 14 * 512) return err(XEN_EINVAL);
    unsigned nr = static_cast<unsigned>((entries + 511) / 512);
    u64 frames[14] = {};
    for (unsigned i = 0; i < nr; ++i)
        if (!get_guest(frames[i], list + i * sizeof(xen_pfn_t))) return err(XEN_EFAULT);
    Owner d = owner_of(*v.domain);
    for (unsigned i = 0; i < nr; ++i) {
        if (auto r = g_mmu.get_page_and_type(frames[i], d, PageType::seg_desc); !r) {
            while (i--) g_mmu.put_page_and_type(frames[i]);
            return err(XEN_EINVAL);
        }
    }
    PerCpu& c = smp::cpu(this_cpu_id());
    for (unsigned p = 0; p < 14; ++p) {
        u64 va = c.gdt_window + p * PAGE_SIZE;
        paging::hv_tables().unmap_page(va);
        // The guest's frames writable in this mapping (the CPU sets descriptors' accessed bits);
        // the guest itself can have no writable mapping of them (type seg_desc).
        u64 pa = p < nr ? frames[p] << PAGE_SHIFT : virt_to_phys(zero_page());
        mm::map_hv_pages(va, pa, 1, p < nr ? paging::MAP_RW : paging::MAP_RO);
    }
    for (unsigned i = 0; i < v.gdt_nr_frames; ++i) g_mmu.put_page_and_type(v.gdt_frames[i]);
    for (unsigned i = 0; i < 14; ++i) v.gdt_frames[i] = frames[i];
    v.gdt_nr_frames = nr;
    v.gdt_entries = entries;
    return 0;
}

// update_descriptor: one descriptor at machine address maddr (8-byte aligned) of the guest's
// own frames, checked as set_gdt's are (core/pv_desc.cpp).
long do_update_descriptor(PvVcpu& v, const HypercallArgs& a) {
    u64 maddr = a.a1, desc = a.a2;
    if (maddr & 7) return err(XEN_EINVAL);
    auto r = g_mmu.update_descriptor(owner_of(*v.domain), maddr >> PAGE_SHIFT,
                                     static_cast<unsigned>((maddr & (PAGE_SIZE - 1)) >> 3), desc);
    return r ? 0 : err(r.error());
}

}  // namespace pv::arch::pv
