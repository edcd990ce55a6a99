// XENMEM_machine_memory_map (Xen 4.17's arch_memory_op): the firmware's E820 map with domain 0's
// denied MMIO in its holes (core/machine_map.hpp), for privileged domains only.  Linux as the
// initial domain reads it in xen_memory_setup and BUG()s on -ENOSYS.
#include "arch/x86_64/pv/guest_access.hpp"
#include "arch/x86_64/pv/pv.hpp"
#include "core/acpi.hpp"
#include "core/machine_map.hpp"
#include "lib/string.hpp"

#include <arch/cpu.hpp>
#include <arch/layout.hpp>
#include <arch/mm.hpp>

#include <xen/memory.h>

namespace pv::arch::pv {

namespace {

MachineMap g_map;
u64 g_hpet_mfn = ~u64{0};

constexpr long err(Errno e) { return -static_cast<long>(e); }

}  // namespace

void machine_map_init(const BootInfo& bi, const AcpiInfo& acpi) {
    g_map.set_firmware(bi.memory_map, bi.memory_map_count);
    // What Xen's dom0_setup_permissions keeps from domain 0: the local APIC, the I/O APICs, the
    // MSI window and, on AMD, the HyperTransport range (the 12 GiB below 1 TiB).
    u64 lapic = acpi.lapic_base ? acpi.lapic_base : 0xfee00000;
    (void)g_map.deny(lapic >> PAGE_SHIFT, lapic >> PAGE_SHIFT);
    for (usize i = 0; i < acpi.ioapic_count; ++i)
        (void)g_map.deny(acpi.ioapics[i].address >> PAGE_SHIFT, acpi.ioapics[i].address >> PAGE_SHIFT);
    (void)g_map.deny(0xfee00000 >> PAGE_SHIFT, 0xfeefffff >> PAGE_SHIFT);
    if (cpu_vendor() == CpuVendor::amd || cpu_vendor() == CpuVendor::hygon) {
        const u64 top = (u64{1} << 40) >> PAGE_SHIFT;
        (void)g_map.deny(top - ((u64{3} << 32) >> PAGE_SHIFT), top - 1);
    }
    if (acpi.hpet_base) g_hpet_mfn = acpi.hpet_base >> PAGE_SHIFT;
    // The frames that are I/O to the MMU (as Xen's dom_io frames): none is owned, since the
    // allocator only ever held RAM above the first MiB.
    auto* table = reinterpret_cast<PageInfo*>(FRAMETABLE_VIRT_START);
    g_map.io_frames(mm::frames().nr_frames(), [&](u64 first, u64 end) {
        for (u64 m = first; m < end; ++m) table[m].io = true;
    });
}

bool machine_map_denied(u64 mfn) { return g_map.denied(mfn); }

bool machine_map_read_only(u64 mfn) { return mfn == g_hpet_mfn; }

long machine_memory_map(PvVcpu& v, u64 arg) {
    if (!v.domain->privileged) return err(XEN_EPERM);
    xen_memory_map_t m;
    if (!get_guest(m, arg)) return err(XEN_EFAULT);
    u64 buf;
    mem_copy(&buf, &m.buffer, sizeof buf);
    const bool store = buf != 0;
    if (store && m.nr_entries < g_map.firmware_entries() + 1) return err(XEN_EINVAL);
    if (store && !guest_array_ok(buf)) return err(XEN_EFAULT);  // Xen's guest_handle_okay
    long rc = 0;
    usize n = g_map.walk([&](usize i, const E820Out& e, usize firmware_left) {
        if (!store) return true;
        // Xen's checks: room for this entry and every firmware entry still to come.
        if (firmware_left ? m.nr_entries <= i + firmware_left : i + 1 >= m.nr_entries) {
            rc = err(XEN_EINVAL);
            return false;
        }
        if (!put_guest(buf + i * sizeof(E820Out), e)) {
            rc = err(XEN_EFAULT);
            return false;
        }
        return true;
    });
    if (rc) return rc;
    m.nr_entries = static_cast<unsigned>(n);
    return put_guest(arg, m) ? 0 : err(XEN_EFAULT);
}

}  // namespace pv::arch::pv
