// ACPI table discovery and decoding: the RSDP, the XSDT or RSDT, and the tables the hypervisor
// itself needs (MADT, FADT, HPET) plus the \_S5 sleep values from the DSDT.
//
// Design.  Every byte of every table is firmware-supplied and untrusted.  A table is first mapped
// header-only to learn its length, then mapped whole and checksummed; from then on it is read
// only through a bounds-checked view that copies fields into local (packed, spec-layout)
// structures, so neither a lying length, an unaligned field nor a table rewritten while we read
// it can make the parser touch memory outside what was validated.  Every loop advances by at
// least one byte or entry through a bounded range, so no input makes it spin.  A table that fails
// validation is skipped and reported; the parse goes on with what is left, because a machine with
// a broken HPET table should still boot.  Nothing here prints: the caller logs the diagnostics,
// which lets the unit tests assert on them.
//
// Only the subset of AML needed for \_S5 is decoded (Name(_S5_, Package(){...}) with integer
// constants); a DSDT that computes _S5 in a method is reported, not interpreted.
#pragma once
#include "core/diagnostics.hpp"
#include "core/phys.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

namespace pv {

// ACPI 6.5 §5.2.3.2 Generic Address Structure, decoded.
struct AcpiGas {
    static constexpr u8 SPACE_MEMORY = 0, SPACE_IO = 1, SPACE_PCI_CONFIG = 2;
    u8 space = 0;
    u8 bit_width = 0;
    u8 bit_offset = 0;
    u8 access_size = 0;
    u64 address = 0;

    bool present() const { return address != 0; }
};

struct AcpiCpu {
    u32 apic_id = 0;
    u32 acpi_uid = 0;
    bool enabled = false;
    // Disabled now but may be hot-added later (ACPI 6.3+, MADT revision >= 5).
    bool online_capable = false;
    bool x2apic = false;  // from a Processor Local x2APIC entry
};

struct AcpiIoApic {
    u8 id = 0;
    u32 address = 0;
    u32 gsi_base = 0;
};

// ISA IRQ `source` is wired to `gsi`; flags are MPS INTI flags (polarity bits 1:0, trigger 3:2).
struct AcpiIrqOverride {
    u8 bus = 0;
    u8 source = 0;
    u32 gsi = 0;
    u16 flags = 0;
};

struct AcpiNmiSource {
    u32 gsi = 0;
    u16 flags = 0;
};

// acpi_uid ALL_CPUS means every processor.
struct AcpiLapicNmi {
    static constexpr u32 ALL_CPUS = 0xffffffff;
    u32 acpi_uid = 0;
    u16 flags = 0;
    u8 lint = 0;
};

struct AcpiFadt {
    static constexpr u32 FLAG_RESET_REG_SUP = 1u << 10;
    static constexpr u32 FLAG_HW_REDUCED_ACPI = 1u << 20;
    static constexpr u16 BOOT_LEGACY_DEVICES = 1u << 0, BOOT_8042 = 1u << 1, BOOT_NO_VGA = 1u << 2,
                         BOOT_NO_MSI = 1u << 3, BOOT_NO_CMOS_RTC = 1u << 5;

    bool present = false;
    u8 revision = 0;
    u8 minor_revision = 0;
    u32 flags = 0;
    bool hw_reduced = false;
    u16 sci_irq = 0;
    // The X_ (64-bit GAS) form when the firmware gave one, else the legacy port as an I/O GAS.
    AcpiGas pm1a_evt, pm1b_evt, pm1a_cnt, pm1b_cnt;
    u8 pm1_evt_len = 0;
    u8 pm1_cnt_len = 0;
    // Hardware-reduced platforms sleep through these instead of the PM1 blocks.
    AcpiGas sleep_control, sleep_status;
    // Only set when RESET_REG_SUP is set and the FADT is long enough to hold the register.
    bool reset_supported = false;
    AcpiGas reset_reg;
    u8 reset_value = 0;
    u64 dsdt = 0;
    u8 century = 0;          // CMOS index of the century byte, 0 = none
    u16 iapc_boot_arch = 0;  // 0 for FADT revision < 2, where the field did not exist
};

struct AcpiTableRef {
    char signature[5] = {};
    u8 revision = 0;
    u32 length = 0;
    u64 address = 0;
};

struct AcpiInfo {
    static constexpr usize MAX_CPUS = 256, MAX_IOAPICS = 8, MAX_OVERRIDES = 16, MAX_NMI_SOURCES = 8,
                           MAX_LAPIC_NMIS = 16, MAX_TABLES = 64;

    u8 revision = 0;           // RSDP revision: 0 = ACPI 1.0 (RSDT only), 2 = ACPI 2.0+
    char oem_id[7] = {};       // RSDP OEM id, NUL-terminated, non-printables replaced by '?'
    u64 rsdp_address = 0;      // 0 when the boot loader's copy was used
    u64 root_address = 0;      // the XSDT or RSDT actually walked
    bool xsdt_used = false;

    // Valid tables found through the root table (the DSDT is reached through the FADT).
    AcpiTableRef tables[MAX_TABLES];
    usize table_count = 0;

    bool madt_present = false;
    u64 lapic_base = 0;
    bool pcat_compat = false;  // dual 8259s present
    AcpiCpu cpus[MAX_CPUS];
    usize cpu_count = 0;
    usize cpus_dropped = 0;    // usable CPUs beyond MAX_CPUS
    AcpiIoApic ioapics[MAX_IOAPICS];
    usize ioapic_count = 0;
    AcpiIrqOverride overrides[MAX_OVERRIDES];
    usize override_count = 0;
    AcpiNmiSource nmi_sources[MAX_NMI_SOURCES];
    usize nmi_source_count = 0;
    AcpiLapicNmi lapic_nmis[MAX_LAPIC_NMIS];
    usize lapic_nmi_count = 0;

    AcpiFadt fadt;

    bool s5_valid = false;
    u8 slp_typa = 0;
    u8 slp_typb = 0;

    u64 hpet_base = 0;  // 0 = no usable HPET table
};

// ACPI 6.5 §5.2.5.3: the fields of a validated RSDP.
struct AcpiRsdp {
    u8 revision = 0;
    char oem_id[7] = {};
    u32 rsdt = 0;
    u64 xsdt = 0;      // 0 for revision 0
    u64 address = 0;   // where it was found; 0 for the boot loader's copy
};

// Checks signature, the 20-byte checksum and, for revision >= 2, the extended checksum.
Result<AcpiRsdp> acpi_check_rsdp(const void* bytes, usize len);

// The boot loader's copy of the RSDP (Multiboot2 tags 14/15) when given and valid, else a scan
// of the first KiB of the EBDA and of 0xE0000-0xFFFFF.  ENOENT when there is none.
Result<AcpiRsdp> acpi_find_rsdp(const PhysMemory& mem, const void* copy, usize copy_len,
                                Diagnostics& diag);

// Finds the RSDP as above, walks the root table and decodes into info, which must be freshly
// constructed.  ENOENT: no RSDP; EINVAL: no usable root table.  Problems with individual tables
// are reported in diag and do not fail the parse.
Result<void> acpi_parse(const PhysMemory& mem, const void* rsdp_copy, usize rsdp_len, AcpiInfo& info,
                        Diagnostics& diag);

// Looks for Name(_S5_, Package(){a, b, ...}) in an AML byte stream (a DSDT or SSDT body) and
// returns SLP_TYPa/SLP_TYPb.  A one-element package packs both values in its integer (a in bits
// 7:0, b in 15:8), as ACPICA accepts.  False when absent or malformed.
bool acpi_find_s5(const u8* aml, usize len, u8* slp_typa, u8* slp_typb);

}  // namespace pv
