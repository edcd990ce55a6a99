// The PV memory hypercalls (mmu_update, mmuext_op, update_va_mapping) on top of the
// arch-neutral reference and type engine (core/pv_mmu.hpp), and the x86 environment that
// engine runs in: the frame table, the direct map, TLB flushes, the hypervisor's L4 slots.
#include <arch/cpu.hpp>
#include <arch/desc.hpp>
#include <arch/layout.hpp>
#include <arch/mm.hpp>
#include <arch/paging.hpp>
#include <arch/percpu.hpp>
#include <arch/smp.hpp>

#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/mmu_env.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/console.hpp"
#include "core/pv_mmu.hpp"
#include "core/ratelimit.hpp"
#include <arch/time.hpp>
#include "lib/string.hpp"

namespace pv::arch::pv {
namespace {

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

// The domain whose frames a call names (Xen's get_pg_owner): DOMID_SELF is the caller, any
// other live domain is itself; the caller's own id is refused (Xen: "cannot specify itself as
// foreign domain"), as are unknown ids and, for now, DOMID_IO and DOMID_XEN.  nullptr: -ESRCH.
PvDomain* pg_owner_of(PvVcpu& v, u32 foreigndom) {
    auto id = static_cast<domid_t>(foreigndom);
    if (id == DOMID_SELF) return v.domain;
    if (id == v.domain->id) return nullptr;
    return domain_find(id);
}

// The dummy XSM policy's XSM_TARGET for memory operations on another domain's frames: only a
// privileged caller may (-EPERM otherwise).
bool may_act_on(const PvDomain& caller, const PvDomain& target) { return &caller == &target || caller.privileged; }

}  // namespace

Owner owner_of(const PvDomain& d) { return static_cast<Owner>(d.id + 1); }

X86MmEnv& mmu_env() { return g_env; }
PvMmu<X86MmEnv>& mmu_engine() { return g_mmu; }

void fill_hypervisor_l4_slots(u64* l4) {
    const u64* hv_l4 = paging::table_virt(paging::hv_tables().root());
    for (unsigned s = 256; s < 272; ++s) l4[s] = hv_l4[s];
    l4[256] = m2p_l3_table() | paging::PTE_P | paging::PTE_U | paging::PTE_A;
}

void mmu_cover_frame(PvDomain& d, u64 mfn) {
    u64 lo = d.frames_lo.load(std::memory_order_relaxed), hi = d.frames_hi.load(std::memory_order_relaxed);
    while (mfn < lo && !d.frames_lo.compare_exchange_weak(lo, mfn)) {}
    while (mfn > hi && !d.frames_hi.compare_exchange_weak(hi, mfn)) {}
}

// The span is widened first, so a frame of d's is never outside it.
Result<void> mmu_assign(PvDomain& d, u64 mfn) {
    mmu_cover_frame(d, mfn);
    return g_mmu.assign(mfn, owner_of(d));
}

Result<void> mmu_release(PvDomain& d, u64 mfn) { return g_mmu.release(owner_of(d), mfn); }
Result<void> mmu_take_away(PvDomain& d, u64 mfn) { return g_mmu.take_away(owner_of(d), mfn); }
void mmu_give_back(u64 mfn) { g_mmu.give_back(mfn); }
void mmu_put_taken(u64 mfn) { g_mmu.put_taken(mfn); }

// The frames of a domain are not listed anywhere (a frame's record has no room for Xen's
// page_list link): relinquish sweeps the frame table over the span mmu_assign recorded, one
// word per frame.
void mmu_release_range(PvDomain& d, u64 first, u64 nr) { (void)g_mmu.relinquish(owner_of(d), first, nr); }
u64 mmu_nr_frames() { return mm::frames().nr_frames(); }

Result<void> mmu_pin_root(PvDomain& d, u64 l4_mfn) {
    if (auto r = g_mmu.pin_table(owner_of(d), 4, l4_mfn); !r) return r;
    auto r = g_mmu.new_baseptr(owner_of(d), 0, l4_mfn);
    if (!r) return error(r.error());
    return ok();
}

namespace {

constexpr long PREEMPTED = 1;  // a round's result besides 0 and -errno: continue (Xen's -ERESTART)
// The flag on a continued call's count (Xen's asm/mm.h; guest-visible, yet not in the public
// headers): the top bit, so a count has 31 bits left.
constexpr u32 MMU_UPDATE_PREEMPTED = 0x80000000u;

// The domains of one list call: whose tables mmu_update writes (pt) and whose frames the entries
// map or the operations name (pg); both the caller unless it names others.
struct ListOwners {
    PvDomain* pt;
    PvDomain* pg;
};

// The requests of one mmu_update round; *i counts those done.  0, -errno, or PREEMPTED.  Naming
// another domain's tables or frames takes privilege, checked per request as Xen's XSM hook
// (-EPERM for that request).
long mmu_update_requests(PvVcpu& v, const ListOwners& o, u64 reqs, u32 count, u32* i) {
    Owner pt = owner_of(*o.pt), pg = owner_of(*o.pg);
    bool foreign = o.pt != v.domain || o.pg != v.domain;
    long rc = 0;
    for (; *i < count; ++*i) {
        if (*i && hypercall_preempt_check(v)) {
            rc = PREEMPTED;
            break;
        }
        mmu_update_t req;
        if (!get_guest(req, reqs + u64{*i} * sizeof req)) {
            rc = err(XEN_EFAULT);
            break;
        }
        // The command is the low three bits (an entry's alignment), as Xen decodes it: 3-7 are
        // unknown commands, -ENOSYS.
        unsigned cmd = req.ptr & 7;
        u64 mfn = req.ptr >> PAGE_SHIFT;
        if ((cmd == MMU_NORMAL_PT_UPDATE || cmd == MMU_PT_UPDATE_PRESERVE_AD || cmd == MMU_MACHPHYS_UPDATE) &&
            foreign && !v.domain->privileged) {
            rc = err(XEN_EPERM);
            break;
        }
        if (cmd == MMU_NORMAL_PT_UPDATE || cmd == MMU_PT_UPDATE_PRESERVE_AD) {
            auto index = static_cast<unsigned>((req.ptr & (PAGE_SIZE - 1)) >> 3);
            if (auto r = g_mmu.update_entry(pt, mfn, index, req.val, cmd == MMU_PT_UPDATE_PRESERVE_AD, pg); !r) {
                log_refusal(*v.domain, "mmu_update of entry", req.val, r.error());
                rc = err(r.error());
                break;
            }
        } else if (cmd == MMU_MACHPHYS_UPDATE) {
            if (!g_mmu.get_page(mfn, pg)) {
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
    if (*i) flush_local();
    return rc;
}

// A pin of a frame of pg's made by another domain: if pg is dying, relinquish may already have
// swept past the frame, so the pin goes again at once (Xen's race with
// domain_relinquish_resources); the call still succeeds.
void drop_pin_if_dying(PvDomain& pg, u64 mfn) {
    bool dying;
    {
        SpinGuard g(pg.page_alloc_lock);
        dying = pg.is_dying;
    }
    if (dying) (void)g_mmu.unpin_table(owner_of(pg), mfn);
}

// The mmuext_op commands that act on the caller's own vCPU state (roots, TLBs, caches, LDT).
bool acts_on_caller(unsigned cmd) {
    return (cmd >= MMUEXT_NEW_BASEPTR && cmd <= MMUEXT_SET_LDT) || cmd == MMUEXT_NEW_USER_BASEPTR ||
           cmd == MMUEXT_FLUSH_CACHE_GLOBAL;
}

// The operations of one mmuext_op round; *i counts those done.  0, -errno, or PREEMPTED.  With a
// foreign domain (o.pg, checked by the caller) the pins, CLEAR_PAGE and COPY_PAGE act on its
// frames; the operations on the caller's own vCPU state are refused with -EPERM, as in Xen.
long mmuext_ops(PvVcpu& v, const ListOwners& o, u64 ops, u32 count, u32* i) {
    PvDomain& dom = *v.domain;
    Owner d = owner_of(*o.pg);
    const bool foreign = o.pg != &dom;
    long rc = 0;
    for (; *i < count; ++*i) {
        if (*i && hypercall_preempt_check(v)) {
            rc = PREEMPTED;
            break;
        }
        mmuext_op_t op;
        if (!get_guest(op, ops + u64{*i} * sizeof op)) {
            rc = err(XEN_EFAULT);
            break;
        }
        Result<void> r = ok();
        if (foreign && acts_on_caller(op.cmd)) r = error(XEN_EPERM);
        if (r) switch (op.cmd) {
        case MMUEXT_PIN_L1_TABLE:
        case MMUEXT_PIN_L2_TABLE:
        case MMUEXT_PIN_L3_TABLE:
        case MMUEXT_PIN_L4_TABLE:
            r = g_mmu.pin_table(d, op.cmd - MMUEXT_PIN_L1_TABLE + 1, op.arg1.mfn);
            if (r && foreign) drop_pin_if_dying(*o.pg, op.arg1.mfn);
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
            // A new kernel root drops the LDT's shadow mappings (Xen's new_guest_cr3), which the
            // next descriptor load refaults through the new tables; the same root changes nothing.
            if (!user && *old) destroy_ldt(v);
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
            // Recorded and loaded; the guest's frames are mapped lazily (ldt_fault).
            u64 base = 0, ents = op.arg2.nr_ents;
            r = ldt::check_set_ldt(op.arg1.linear_addr, ents, &base);
            if (r && (v.ldt_base != base || v.ldt_ents != ents)) {
                destroy_ldt(v);
                v.ldt_base = base;
                v.ldt_ents = ents;
                PerCpu& c = smp::cpu(this_cpu_id());
                load_ldt(c.gdt_page, c.ldt_window, static_cast<unsigned>(ents));
            }
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
    return rc;
}

// mmu_update and mmuext_op: the lists (requests, operations) run by `run`.  Both take any count
// (an unsigned int: the register's upper half is ignored) and continue themselves when preempted
// (continuation.cpp): the list pointer advanced, the count reduced and flagged
// MMU_UPDATE_PREEMPTED, which tells the next round to read the work done so far back from
// *pdone and add its own.  As in Xen, only the start of the list is checked up front (-EFAULT,
// nothing written); an item that faults ends the call with -EFAULT after the earlier ones took
// effect; *pdone is written on the way out without checking the write (also after mmu_update's
// -ESRCH, not after mmuext_op's).  A count of exactly MMU_UPDATE_PREEMPTED with no list is the
// round that only reports a result, passed in foreigndom (Xen's old_guest_table continuation:
// pvisor never makes one, but a guest may make the call).
using ListRunner = long (*)(PvVcpu& v, const ListOwners& o, u64 list, u32 count, u32* i);
long mmu_list_call(PvVcpu& v, const HypercallArgs& a, unsigned op, u64 item_size, ListRunner run) {
    u64 list = a.a1, pdone = a.a3;
    auto count = static_cast<u32>(a.a2), foreigndom = static_cast<u32>(a.a4);
    if (count == MMU_UPDATE_PREEMPTED && list == 0) return static_cast<i32>(foreigndom);
    u32 done = 0;
    if (count & MMU_UPDATE_PREEMPTED) {
        count &= ~MMU_UPDATE_PREEMPTED;
        if (pdone) (void)get_guest(done, pdone);
    }
    if (!guest_array_ok(list)) return err(XEN_EFAULT);
    ListOwners o{v.domain, pg_owner_of(v, foreigndom)};
    if (op == __HYPERVISOR_mmuext_op) {
        // The whole call is refused for an unknown or forbidden domain, *pdone untouched.
        if (!o.pg) return err(XEN_ESRCH);
        if (!may_act_on(*v.domain, *o.pg)) return err(XEN_EPERM);
    } else if (u32 pt_dom = foreigndom >> 16; pt_dom != 0) {
        // mmu_update's upper half names the tables' owner, plus one (Xen's "PFD"): unknown is
        // -ESRCH before anything else.
        o.pt = domain_find(static_cast<domid_t>(pt_dom - 1));
        if (!o.pt) return err(XEN_ESRCH);
    }
    u32 i = 0;
    long rc = o.pg ? run(v, o, list, count, &i) : err(XEN_ESRCH);
    if (rc == PREEMPTED)
        rc = create_continuation(v, op, list + u64{i} * item_size, (count - i) | MMU_UPDATE_PREEMPTED, pdone,
                                 foreigndom);
    if (pdone) (void)put_guest(pdone, done + i);
    return rc;
}

}  // namespace

long do_mmu_update(PvVcpu& v, const HypercallArgs& a) {
    return mmu_list_call(v, a, __HYPERVISOR_mmu_update, sizeof(mmu_update_t), mmu_update_requests);
}

long do_mmuext_op(PvVcpu& v, const HypercallArgs& a) {
    return mmu_list_call(v, a, __HYPERVISOR_mmuext_op, sizeof(mmuext_op_t), mmuext_ops);
}

namespace {

// Xen's __do_update_va_mapping: the caller's L1 entry for va, mapping a frame of pg_owner's.
long update_va_mapping(PvVcpu& v, u64 va, u64 val, u64 flags, PvDomain& pg_owner) {
    if (!guest_range_ok(va, 1)) return err(XEN_EINVAL);
    // XSM_TARGET: another domain's frames take privilege.
    if (!may_act_on(*v.domain, pg_owner)) return err(XEN_EPERM);
    unsigned index = 0;
    auto l1 = l1_table_for(v, va, &index);
    if (!l1) return err(l1.error());
    if (auto r = g_mmu.update_entry(owner_of(*v.domain), *l1, index, val, false, owner_of(pg_owner)); !r) {
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

}  // namespace

long do_update_va_mapping(PvVcpu& v, const HypercallArgs& a) { return update_va_mapping(v, a.a1, a.a2, a.a3, *v.domain); }

// The same with the mapped frame's owner named (Xen's get_pg_owner: -ESRCH for an unknown
// domain or the caller's own id).
long do_update_va_mapping_otherdomain(PvVcpu& v, const HypercallArgs& a) {
    PvDomain* pg = pg_owner_of(v, static_cast<u32>(static_cast<domid_t>(a.a4)));
    if (!pg) return err(XEN_ESRCH);
    return update_va_mapping(v, a.a1, a.a2, a.a3, *pg);
}

bool mmu_new_baseptr(PvVcpu& v, u64 mfn) {
    if (mfn == 0) return false;
    auto old = g_mmu.new_baseptr(owner_of(*v.domain), v.kernel_cr3 >> PAGE_SHIFT, mfn);
    if (!old) return false;
    if (*old) destroy_ldt(v);
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
// set_gdt's work, from a frame list already read (also VCPUOP_initialise's): the frames typed
// seg_desc, the old ones released, and the CPU's window remapped when v runs here.
long vcpu_set_gdt_frames(PvVcpu& v, const xen_ulong_t* list, u64 entries) {
    if (entries > 14 * 512) return err(XEN_EINVAL);
    unsigned nr = static_cast<unsigned>((entries + 511) / 512);
    u64 frames[14] = {};
    for (unsigned i = 0; i < nr; ++i) frames[i] = list[i];
    Owner d = owner_of(*v.domain);
    for (unsigned i = 0; i < nr; ++i) {
        if (auto r = g_mmu.get_page_and_type(frames[i], d, PageType::seg_desc); !r) {
            while (i--) g_mmu.put_page_and_type(frames[i]);
            return err(XEN_EINVAL);
        }
    }
    u64 old[14];
    unsigned old_nr = v.gdt_nr_frames;
    for (unsigned i = 0; i < 14; ++i) old[i] = v.gdt_frames[i];
    for (unsigned i = 0; i < 14; ++i) v.gdt_frames[i] = frames[i];
    v.gdt_nr_frames = nr;
    v.gdt_entries = entries;
    if (current() == &v) map_guest_gdt(v);
    for (unsigned i = 0; i < old_nr; ++i) g_mmu.put_page_and_type(old[i]);
    return 0;
}

long do_set_gdt(PvVcpu& v, const HypercallArgs& a) {
    u64 list = a.a1, entries = a.a2;
    if (entries > 14 * 512) return err(XEN_EINVAL);
    unsigned nr = static_cast<unsigned>((entries + 511) / 512);
    xen_ulong_t frames[14] = {};
    for (unsigned i = 0; i < nr; ++i)
        if (!get_guest(frames[i], list + i * sizeof(xen_pfn_t))) return err(XEN_EFAULT);
    return vcpu_set_gdt_frames(v, frames, entries);
}

// A vCPU's root (kernel or user L4) set or, with mfn 0, dropped, for a vCPU not running here
// (VCPUOP_initialise, domain teardown).
bool mmu_set_root(PvVcpu& v, u64 mfn, bool user) {
    u64& cr3 = user ? v.user_cr3 : v.kernel_cr3;
    auto old = g_mmu.new_baseptr(owner_of(*v.domain), cr3 >> PAGE_SHIFT, mfn);
    if (!old) return false;
    cr3 = mfn << PAGE_SHIFT;
    g_mmu.put_baseptr(*old);
    return true;
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

// ---- The lazily mapped LDT (core/pv_ldt.hpp) ----

namespace {

u64 ldt_page_va(unsigned page) { return smp::cpu(this_cpu_id()).ldt_window + u64{page} * PAGE_SIZE; }

// Xen's pv_map_ldt_shadow_page: the guest frame behind the LDT byte at `offset`, found in the
// kernel page tables whatever the current mode, typed seg_desc and mapped into the window.
bool map_ldt_page(PvVcpu& v, u64 offset) {
    if ((offset >> 3) >= v.ldt_ents) return false;  // the CPU checked the limit already
    u64 linear = v.ldt_base + offset;
    if (!canonical(linear) || !guest_range_ok(linear, 1)) return false;
    unsigned index = 0;
    auto l1 = l1_table_for(v, linear, &index);
    if (!l1) return false;
    u64 e = mmu_entry(*l1, index);
    if (!(e & paging::PTE_P)) return false;
    u64 mfn = (e & paging::PTE_ADDR) >> PAGE_SHIFT;
    auto page = static_cast<unsigned>(offset >> PAGE_SHIFT);
    u64 va = ldt_page_va(page);
    paging::hv_tables().unmap_page(va);  // only a stale mapping could be there
    if (!v.ldt_shadow.map(g_mmu, owner_of(*v.domain), page, mfn)) return false;
    // Writable here, as in Xen: the CPU sets the descriptors' accessed bits.  The guest has no
    // writable mapping of the frame (its type is seg_desc).
    mm::map_hv_pages(va, mfn << PAGE_SHIFT, 1, paging::MAP_RW);
    return true;
}

}  // namespace

void destroy_ldt(PvVcpu& v) {
    v.ldt_shadow.destroy(g_mmu, [](unsigned page) { paging::hv_tables().unmap_page(ldt_page_va(page)); });
}

// A context switch on this CPU: prev's LDT pages leave the CPU's window (prev refaults them
// wherever it runs next) and next's LDT descriptor is loaded, its pages to be faulted in.
void ldt_switch(PvVcpu* prev, PvVcpu& next) {
    if (prev) destroy_ldt(*prev);
    PerCpu& c = smp::cpu(this_cpu_id());
    load_ldt(c.gdt_page, c.ldt_window, static_cast<unsigned>(next.ldt_ents));
}

bool ldt_fault(TrapFrame& f, u64 cr2, bool guest_mode) {
    constexpr u64 PF_USER = 4, PF_RSVD = 8;
    PvVcpu* v = current();
    if (!v || (f.error_code & (PF_USER | PF_RSVD))) return false;
    u64 window = smp::cpu(this_cpu_id()).ldt_window;
    if (cr2 < window || cr2 - window >= ldt::WINDOW_PAGES * PAGE_SIZE) return false;
    u64 offset = cr2 - window;
    if (map_ldt_page(*v, offset)) return true;
    if (!guest_mode) return false;
    u64 linear = v->ldt_base + offset;
    if (!canonical(linear)) {
        // The descriptor would lie in the non-canonical hole: #GP(selector), as the CPU would
        // raise for a descriptor-table access there (TI set: an LDT selector).
        inject_exception(*v, f, VEC_GP, true, (offset & 0xfff8) | 4);
    } else {
        inject_page_fault(*v, f, f.error_code, linear);
    }
    return true;
}

// A general and a writable type reference on one of d's frames, for a page the hypervisor
// keeps writing (a registered vcpu_info): it can then become neither a page table nor a
// descriptor frame.  False when the frame is not d's or has another type.
bool mmu_get_writable(PvDomain& d, u64 mfn) {
    return static_cast<bool>(g_mmu.get_page_and_type(mfn, owner_of(d), PageType::writable));
}

void mmu_put_writable(u64 mfn) { g_mmu.put_page_and_type(mfn); }

}  // namespace pv::arch::pv
