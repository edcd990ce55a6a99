#include "core/acpi.hpp"

#include <stdarg.h>

#include "lib/format.hpp"
#include "lib/string.hpp"

namespace pv {
namespace {

// ---------------------------------------------------------------------------------------------
// Spec layouts.  Section numbers are those of ACPI 6.5 unless noted.  These structures are only
// ever filled by copying bytes into a local, never by pointing at firmware memory.

// §5.2.5.3 Root System Description Pointer.  Revision 0 ends after rsdt (20 bytes).
struct [[gnu::packed]] RawRsdp {
    char signature[8];
    u8 checksum;
    char oem_id[6];
    u8 revision;
    u32 rsdt;
    u32 length;
    u64 xsdt;
    u8 ext_checksum;
    u8 reserved[3];
};
static_assert(sizeof(RawRsdp) == 36);
constexpr usize RSDP_V1_LEN = 20;

// §5.2.6 System Description Table Header.
struct [[gnu::packed]] RawHeader {
    char signature[4];
    u32 length;
    u8 revision;
    u8 checksum;
    char oem_id[6];
    char oem_table_id[8];
    u32 oem_revision;
    u32 creator_id;
    u32 creator_revision;
};
static_assert(sizeof(RawHeader) == 36);

// §5.2.3.2 Generic Address Structure.
struct [[gnu::packed]] RawGas {
    u8 space;
    u8 bit_width;
    u8 bit_offset;
    u8 access_size;
    u64 address;
};
static_assert(sizeof(RawGas) == 12);

// §5.2.9 Fixed ACPI Description Table (revision 6.5 layout; older FADTs are prefixes of it).
struct [[gnu::packed]] RawFadt {
    RawHeader hdr;
    u32 firmware_ctrl;
    u32 dsdt;
    u8 reserved0;
    u8 preferred_pm_profile;
    u16 sci_int;
    u32 smi_cmd;
    u8 acpi_enable;
    u8 acpi_disable;
    u8 s4bios_req;
    u8 pstate_cnt;
    u32 pm1a_evt_blk;
    u32 pm1b_evt_blk;
    u32 pm1a_cnt_blk;
    u32 pm1b_cnt_blk;
    u32 pm2_cnt_blk;
    u32 pm_tmr_blk;
    u32 gpe0_blk;
    u32 gpe1_blk;
    u8 pm1_evt_len;
    u8 pm1_cnt_len;
    u8 pm2_cnt_len;
    u8 pm_tmr_len;
    u8 gpe0_blk_len;
    u8 gpe1_blk_len;
    u8 gpe1_base;
    u8 cst_cnt;
    u16 p_lvl2_lat;
    u16 p_lvl3_lat;
    u16 flush_size;
    u16 flush_stride;
    u8 duty_offset;
    u8 duty_width;
    u8 day_alrm;
    u8 mon_alrm;
    u8 century;
    u16 iapc_boot_arch;
    u8 reserved1;
    u32 flags;
    RawGas reset_reg;
    u8 reset_value;
    u16 arm_boot_arch;
    u8 minor_version;
    u64 x_firmware_ctrl;
    u64 x_dsdt;
    RawGas x_pm1a_evt_blk;
    RawGas x_pm1b_evt_blk;
    RawGas x_pm1a_cnt_blk;
    RawGas x_pm1b_cnt_blk;
    RawGas x_pm2_cnt_blk;
    RawGas x_pm_tmr_blk;
    RawGas x_gpe0_blk;
    RawGas x_gpe1_blk;
    RawGas sleep_control_reg;
    RawGas sleep_status_reg;
    u64 hypervisor_vendor_id;
};
static_assert(sizeof(RawFadt) == 276);
static_assert(__builtin_offsetof(RawFadt, flags) == 112);
static_assert(__builtin_offsetof(RawFadt, reset_reg) == 116);
static_assert(__builtin_offsetof(RawFadt, x_dsdt) == 140);
static_assert(__builtin_offsetof(RawFadt, x_pm1a_cnt_blk) == 172);
static_assert(__builtin_offsetof(RawFadt, sleep_control_reg) == 244);
// The ACPI 1.0 FADT ends at flags; anything shorter is not a FADT.
constexpr usize FADT_V1_LEN = 116;
// ACPICA ignores the boot flags of FADTs this short or shorter (the revision field is unreliable).
constexpr usize FADT_V2_LEN = 132;

// §5.2.12 Multiple APIC Description Table and its interrupt controller structures.
struct [[gnu::packed]] RawMadt {
    RawHeader hdr;
    u32 lapic_address;
    u32 flags;
};
static_assert(sizeof(RawMadt) == 44);

enum MadtType : u8 {
    MADT_LAPIC = 0,
    MADT_IOAPIC = 1,
    MADT_OVERRIDE = 2,
    MADT_NMI_SOURCE = 3,
    MADT_LAPIC_NMI = 4,
    MADT_LAPIC_ADDRESS = 5,
    MADT_X2APIC = 9,
    MADT_X2APIC_NMI = 10,
};

// §5.2.12.2 Processor Local APIC.
struct [[gnu::packed]] RawMadtLapic {
    u8 type, length;
    u8 acpi_uid;
    u8 apic_id;
    u32 flags;
};
static_assert(sizeof(RawMadtLapic) == 8);

// §5.2.12.3 I/O APIC.
struct [[gnu::packed]] RawMadtIoApic {
    u8 type, length;
    u8 id;
    u8 reserved;
    u32 address;
    u32 gsi_base;
};
static_assert(sizeof(RawMadtIoApic) == 12);

// §5.2.12.5 Interrupt Source Override.
struct [[gnu::packed]] RawMadtOverride {
    u8 type, length;
    u8 bus;
    u8 source;
    u32 gsi;
    u16 flags;
};
static_assert(sizeof(RawMadtOverride) == 10);

// §5.2.12.6 Non-Maskable Interrupt Source.
struct [[gnu::packed]] RawMadtNmiSource {
    u8 type, length;
    u16 flags;
    u32 gsi;
};
static_assert(sizeof(RawMadtNmiSource) == 8);

// §5.2.12.7 Local APIC NMI.
struct [[gnu::packed]] RawMadtLapicNmi {
    u8 type, length;
    u8 acpi_uid;
    u16 flags;
    u8 lint;
};
static_assert(sizeof(RawMadtLapicNmi) == 6);

// §5.2.12.8 Local APIC Address Override.
struct [[gnu::packed]] RawMadtLapicAddress {
    u8 type, length;
    u16 reserved;
    u64 address;
};
static_assert(sizeof(RawMadtLapicAddress) == 12);

// §5.2.12.12 Processor Local x2APIC.
struct [[gnu::packed]] RawMadtX2apic {
    u8 type, length;
    u16 reserved;
    u32 x2apic_id;
    u32 flags;
    u32 acpi_uid;
};
static_assert(sizeof(RawMadtX2apic) == 16);

// §5.2.12.13 Local x2APIC NMI.
struct [[gnu::packed]] RawMadtX2apicNmi {
    u8 type, length;
    u16 flags;
    u32 acpi_uid;
    u8 lint;
    u8 reserved[3];
};
static_assert(sizeof(RawMadtX2apicNmi) == 12);

constexpr u32 MADT_PCAT_COMPAT = 1u << 0;
constexpr u32 LAPIC_ENABLED = 1u << 0;
constexpr u32 LAPIC_ONLINE_CAPABLE = 1u << 1;
// Bit 1 of the processor flags was reserved before MADT revision 5 (ACPI 6.3), and old
// firmware does leave junk there; Linux ignores it on older tables too.
constexpr u8 MADT_REV_ONLINE_CAPABLE = 5;

// IA-PC HPET Specification 1.0a §3.2.4, the ACPI "HPET" table.
struct [[gnu::packed]] RawHpet {
    RawHeader hdr;
    u32 event_timer_block_id;
    RawGas base;
    u8 hpet_number;
    u16 min_tick;
    u8 page_protection;
};
static_assert(sizeof(RawHpet) == 56);

// ---------------------------------------------------------------------------------------------
// Limits on what firmware may ask of us.  Generous for real machines (the largest DSDTs seen are
// a few hundred KiB), small enough that a lying length cannot make the parse take minutes.
constexpr u32 MAX_TABLE_LEN = 16 * 1024 * 1024;
constexpr usize MAX_ROOT_ENTRIES = 256;
constexpr usize MAX_SSDTS = 16;
constexpr u32 MAX_RSDP_LEN = 1024;

// EBDA segment pointer in the BIOS data area, and the BIOS read-only area (§5.2.5.1).
constexpr u64 BDA_EBDA_SEGMENT = 0x40e;
constexpr u64 EBDA_SCAN_LEN = 1024;
constexpr u64 BIOS_AREA_START = 0xe0000;
constexpr u64 BIOS_AREA_END = 0x100000;
// Conventional memory ends at 640 KiB; an EBDA pointer outside [1 KiB, 640 KiB) is junk.
constexpr u64 EBDA_MIN = 0x400, EBDA_MAX = 0xa0000;

// A bounds-checked window over validated table bytes.  All reads copy.
class Bytes {
public:
    Bytes() = default;
    Bytes(const u8* p, usize n) : p_(p), n_(n) {}

    usize size() const { return n_; }
    const u8* data() const { return p_; }
    template <typename T> bool read(usize off, T* out) const {
        if (off > n_ || sizeof(T) > n_ - off) return false;
        mem_copy(static_cast<void*>(out), p_ + off, sizeof(T));
        return true;
    }
    // Callers check i < size() first.
    u8 at(usize i) const { return p_[i]; }
    Bytes sub(usize off, usize n) const {
        if (off > n_) off = n_;
        if (n > n_ - off) n = n_ - off;
        return Bytes(p_ + off, n);
    }

private:
    const u8* p_ = nullptr;
    usize n_ = 0;
};

u8 checksum(const u8* p, usize n) {
    u8 sum = 0;
    for (usize i = 0; i < n; ++i) sum = static_cast<u8>(sum + p[i]);
    return sum;
}

// Firmware strings are fixed-width and may hold anything; make them safe to print.
void printable(char* dst, const char* src, usize n) {
    for (usize i = 0; i < n; ++i) {
        char c = src[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    dst[n] = '\0';
}

struct Sig {
    char s[5];
};
Sig sig_of(const RawHeader& h) {
    Sig r;
    printable(r.s, h.signature, 4);
    return r;
}

bool sig_is(const RawHeader& h, const char* want) { return mem_compare(h.signature, want, 4) == 0; }

struct Table {
    u64 address = 0;
    RawHeader hdr{};
    Bytes bytes;  // the whole table, header included; bytes.size() == validated length
};

// Maps and validates the table at pa: accessible, long enough for its header, not absurdly long,
// checksum zero, and (when expected is given) the right signature.
bool load_table(const PhysMemory& mem, u64 pa, const char* expected, Diagnostics& diag, Table* out) {
    const void* h = mem.map(pa, sizeof(RawHeader));
    if (!h) {
        diag.warn("table at %#lx: header not accessible", pa);
        return false;
    }
    RawHeader hdr;
    mem_copy(&hdr, h, sizeof hdr);
    Sig sig = sig_of(hdr);
    if (expected && !sig_is(hdr, expected)) {
        diag.warn("table at %#lx: signature '%s', expected '%s'", pa, sig.s, expected);
        return false;
    }
    u32 len = hdr.length;
    if (len < sizeof(RawHeader) || len > MAX_TABLE_LEN) {
        diag.warn("%s at %#lx: bad length %u; skipped", sig.s, pa, len);
        return false;
    }
    const void* whole = mem.map(pa, len);
    if (!whole) {
        diag.warn("%s at %#lx: length %u runs past accessible memory; skipped", sig.s, pa, len);
        return false;
    }
    const auto* bytes = static_cast<const u8*>(whole);
    if (checksum(bytes, len) != 0) {
        diag.warn("%s at %#lx: bad checksum; skipped", sig.s, pa);
        return false;
    }
    // Re-read the header from the checksummed copy; the length stays the one that was mapped.
    mem_copy(&hdr, bytes, sizeof hdr);
    if (expected && !sig_is(hdr, expected)) {
        diag.warn("table at %#lx changed while being read; skipped", pa);
        return false;
    }
    out->address = pa;
    out->hdr = hdr;
    out->bytes = Bytes(bytes, len);
    return true;
}

// ---------------------------------------------------------------------------------------------
// MADT

void add_cpu(AcpiInfo& info, Diagnostics& diag, u32 apic_id, u32 uid, u32 flags, bool online_valid,
             bool x2apic) {
    bool enabled = flags & LAPIC_ENABLED;
    bool online = online_valid && (flags & LAPIC_ONLINE_CAPABLE);
    // The spec forbids using a processor that is neither; firmware pads tables with such entries.
    if (!enabled && !online) return;
    for (usize i = 0; i < info.cpu_count; ++i) {
        if (info.cpus[i].apic_id == apic_id) {
            diag.warn("MADT: duplicate APIC id %u ignored", apic_id);
            return;
        }
    }
    if (info.cpu_count == AcpiInfo::MAX_CPUS) {
        if (info.cpus_dropped++ == 0) diag.warn("MADT: more than %zu CPUs; the rest ignored", AcpiInfo::MAX_CPUS);
        return;
    }
    AcpiCpu& c = info.cpus[info.cpu_count++];
    c.apic_id = apic_id;
    c.acpi_uid = uid;
    c.enabled = enabled;
    c.online_capable = online;
    c.x2apic = x2apic;
}

template <typename T> bool madt_entry(Bytes e, T* out, Diagnostics& diag) {
    if (e.read(0, out)) return true;
    diag.warn("MADT: type %u entry has length %zu, needs %zu; skipped", e.at(0), e.size(), sizeof(T));
    return false;
}

void decode_madt_entry(Bytes e, bool online_valid, AcpiInfo& info, Diagnostics& diag) {
    switch (e.at(0)) {
    case MADT_LAPIC: {
        RawMadtLapic m;
        if (!madt_entry(e, &m, diag)) return;
        // 0xff is the broadcast id; no processor can have it.
        if (m.apic_id == 0xff) {
            if (m.flags & LAPIC_ENABLED) diag.warn("MADT: processor uid %u with APIC id 0xff ignored", m.acpi_uid);
            return;
        }
        add_cpu(info, diag, m.apic_id, m.acpi_uid, m.flags, online_valid, false);
        return;
    }
    case MADT_X2APIC: {
        RawMadtX2apic m;
        if (!madt_entry(e, &m, diag)) return;
        if (m.x2apic_id == 0xffffffff) return;
        add_cpu(info, diag, m.x2apic_id, m.acpi_uid, m.flags, online_valid, true);
        return;
    }
    case MADT_IOAPIC: {
        RawMadtIoApic m;
        if (!madt_entry(e, &m, diag)) return;
        if (info.ioapic_count == AcpiInfo::MAX_IOAPICS) {
            diag.warn("MADT: I/O APIC id %u beyond the %zu supported; ignored", m.id, AcpiInfo::MAX_IOAPICS);
            return;
        }
        info.ioapics[info.ioapic_count++] = AcpiIoApic{m.id, m.address, m.gsi_base};
        return;
    }
    case MADT_OVERRIDE: {
        RawMadtOverride m;
        if (!madt_entry(e, &m, diag)) return;
        if (info.override_count == AcpiInfo::MAX_OVERRIDES) {
            diag.warn("MADT: override of IRQ %u beyond the %zu supported; ignored", m.source,
                     AcpiInfo::MAX_OVERRIDES);
            return;
        }
        info.overrides[info.override_count++] = AcpiIrqOverride{m.bus, m.source, m.gsi, m.flags};
        return;
    }
    case MADT_NMI_SOURCE: {
        RawMadtNmiSource m;
        if (!madt_entry(e, &m, diag)) return;
        if (info.nmi_source_count == AcpiInfo::MAX_NMI_SOURCES) {
            diag.warn("MADT: NMI source GSI %u beyond the %zu supported; ignored", m.gsi, AcpiInfo::MAX_NMI_SOURCES);
            return;
        }
        info.nmi_sources[info.nmi_source_count++] = AcpiNmiSource{m.gsi, m.flags};
        return;
    }
    case MADT_LAPIC_NMI:
    case MADT_X2APIC_NMI: {
        AcpiLapicNmi n;
        if (e.at(0) == MADT_LAPIC_NMI) {
            RawMadtLapicNmi m;
            if (!madt_entry(e, &m, diag)) return;
            n = AcpiLapicNmi{m.acpi_uid == 0xff ? AcpiLapicNmi::ALL_CPUS : m.acpi_uid, m.flags, m.lint};
        } else {
            RawMadtX2apicNmi m;
            if (!madt_entry(e, &m, diag)) return;
            n = AcpiLapicNmi{m.acpi_uid, m.flags, m.lint};
        }
        if (info.lapic_nmi_count == AcpiInfo::MAX_LAPIC_NMIS) {
            diag.warn("MADT: local APIC NMI beyond the %zu supported; ignored", AcpiInfo::MAX_LAPIC_NMIS);
            return;
        }
        info.lapic_nmis[info.lapic_nmi_count++] = n;
        return;
    }
    case MADT_LAPIC_ADDRESS: {
        RawMadtLapicAddress m;
        if (!madt_entry(e, &m, diag)) return;
        info.lapic_base = m.address;
        return;
    }
    default:
        return;  // SAPIC, GIC, ... : not for x86 APIC systems
    }
}

void decode_madt(const Table& t, AcpiInfo& info, Diagnostics& diag) {
    RawMadt m;
    if (!t.bytes.read(0, &m)) {
        diag.warn("APIC at %#lx: length %zu too short for a MADT; skipped", t.address, t.bytes.size());
        return;
    }
    info.madt_present = true;
    info.pcat_compat = m.flags & MADT_PCAT_COMPAT;
    // The address override entry, if any, replaces this as the walk meets it.
    info.lapic_base = m.lapic_address;
    bool online_valid = m.hdr.revision >= MADT_REV_ONLINE_CAPABLE;

    usize len = t.bytes.size();
    usize off = sizeof(RawMadt);
    while (off < len) {
        if (len - off < 2) {
            diag.warn("MADT: %zu stray byte(s) at the end", len - off);
            break;
        }
        u8 type = t.bytes.at(off);
        u8 elen = t.bytes.at(off + 1);
        // An entry shorter than its own header would stall the walk; nothing after it can be
        // located, so the rest of the table is dropped.
        if (elen < 2) {
            diag.warn("MADT: type %u entry at offset %zu has length %u; rest of the table ignored", type, off, elen);
            break;
        }
        if (elen > len - off) {
            diag.warn("MADT: type %u entry at offset %zu runs past the table end; rest ignored", type, off);
            break;
        }
        decode_madt_entry(t.bytes.sub(off, elen), online_valid, info, diag);
        off += elen;
    }
}

// ---------------------------------------------------------------------------------------------
// FADT

AcpiGas decode_gas(const RawGas& g) {
    AcpiGas r;
    r.space = g.space;
    r.bit_width = g.bit_width;
    r.bit_offset = g.bit_offset;
    r.access_size = g.access_size;
    r.address = g.address;
    return r;
}

bool covers(usize len, usize off, usize size) { return len >= off + size; }

// The 64-bit X_ block when the FADT has one, else the legacy port (len bytes wide) as I/O space.
// ACPICA prefers X_ too when both are set.
AcpiGas pick_block(usize fadt_len, usize x_off, const RawGas& x, u32 legacy, u8 legacy_len) {
    if (covers(fadt_len, x_off, sizeof(RawGas)) && x.address) return decode_gas(x);
    AcpiGas r;
    if (legacy) {
        r.space = AcpiGas::SPACE_IO;
        r.bit_width = static_cast<u8>(legacy_len * 8u);
        r.address = legacy;
    }
    return r;
}

void decode_fadt(const Table& t, AcpiInfo& info, Diagnostics& diag) {
    usize len = t.bytes.size();
    if (len < FADT_V1_LEN) {
        diag.warn("FACP at %#lx: length %zu too short for a FADT; skipped", t.address, len);
        return;
    }
    // Older, shorter FADTs are prefixes of the current layout; the tail reads as zero, which
    // every field below treats as absent.
    RawFadt f;
    mem_set(&f, 0, sizeof f);
    mem_copy(&f, t.bytes.data(), min(len, sizeof f));

    AcpiFadt& o = info.fadt;
    o.present = true;
    o.revision = f.hdr.revision;
    o.minor_revision = covers(len, __builtin_offsetof(RawFadt, minor_version), 1) ? f.minor_version : 0;
    o.flags = f.flags;
    o.hw_reduced = f.flags & AcpiFadt::FLAG_HW_REDUCED_ACPI;
    o.sci_irq = f.sci_int;
    o.pm1_evt_len = f.pm1_evt_len;
    o.pm1_cnt_len = f.pm1_cnt_len;
    o.pm1a_evt = pick_block(len, __builtin_offsetof(RawFadt, x_pm1a_evt_blk), f.x_pm1a_evt_blk, f.pm1a_evt_blk,
                            f.pm1_evt_len);
    o.pm1b_evt = pick_block(len, __builtin_offsetof(RawFadt, x_pm1b_evt_blk), f.x_pm1b_evt_blk, f.pm1b_evt_blk,
                            f.pm1_evt_len);
    o.pm1a_cnt = pick_block(len, __builtin_offsetof(RawFadt, x_pm1a_cnt_blk), f.x_pm1a_cnt_blk, f.pm1a_cnt_blk,
                            f.pm1_cnt_len);
    o.pm1b_cnt = pick_block(len, __builtin_offsetof(RawFadt, x_pm1b_cnt_blk), f.x_pm1b_cnt_blk, f.pm1b_cnt_blk,
                            f.pm1_cnt_len);
    if (covers(len, __builtin_offsetof(RawFadt, sleep_status_reg), sizeof(RawGas))) {
        o.sleep_control = decode_gas(f.sleep_control_reg);
        o.sleep_status = decode_gas(f.sleep_status_reg);
    }

    if (f.flags & AcpiFadt::FLAG_RESET_REG_SUP) {
        if (covers(len, __builtin_offsetof(RawFadt, reset_value), 1)) {
            o.reset_supported = true;
            o.reset_reg = decode_gas(f.reset_reg);
            o.reset_value = f.reset_value;
        } else {
            diag.warn("FADT: RESET_REG_SUP set but the table (%zu bytes) has no reset register", len);
        }
    }

    u64 x_dsdt = covers(len, __builtin_offsetof(RawFadt, x_dsdt), 8) ? f.x_dsdt : 0;
    if (x_dsdt && f.dsdt && x_dsdt != f.dsdt)
        diag.warn("FADT: DSDT %#x and X_DSDT %#lx differ; using X_DSDT", f.dsdt, x_dsdt);
    o.dsdt = x_dsdt ? x_dsdt : f.dsdt;

    o.century = f.century;
    o.iapc_boot_arch = len > FADT_V2_LEN ? f.iapc_boot_arch : 0;
}

// ---------------------------------------------------------------------------------------------
// HPET

void decode_hpet(const Table& t, AcpiInfo& info, Diagnostics& diag) {
    RawHpet h;
    // page_protection and the fields before it up to the base address are what ACPI 1.0-era
    // tables carry; the base is the only field used.
    usize need = __builtin_offsetof(RawHpet, base) + sizeof(RawGas);
    if (t.bytes.size() < need) {
        diag.warn("HPET at %#lx: length %zu too short; skipped", t.address, t.bytes.size());
        return;
    }
    mem_set(&h, 0, sizeof h);
    mem_copy(&h, t.bytes.data(), min(t.bytes.size(), sizeof h));
    if (h.base.space != AcpiGas::SPACE_MEMORY || h.base.address == 0) {
        diag.warn("HPET: base in address space %u at %#lx unusable; skipped", h.base.space, h.base.address);
        return;
    }
    info.hpet_base = h.base.address;
}

// ---------------------------------------------------------------------------------------------
// AML: just enough of §20.2 to read Name(_S5_, Package(){...}).

constexpr u8 AML_ZERO = 0x00, AML_ONE = 0x01, AML_NAME = 0x08, AML_BYTE = 0x0a, AML_WORD = 0x0b,
             AML_DWORD = 0x0c, AML_QWORD = 0x0e, AML_PACKAGE = 0x12, AML_ONES = 0xff;

// §20.2.3 ComputationalData / ConstObj: one integer at *pos, not reaching end.
bool aml_integer(Bytes aml, usize* pos, usize end, u64* out) {
    usize p = *pos;
    if (p >= end) return false;
    u8 op = aml.at(p);
    usize size;
    switch (op) {
    case AML_ZERO: *out = 0; *pos = p + 1; return true;
    case AML_ONE: *out = 1; *pos = p + 1; return true;
    case AML_ONES: *out = ~u64{0}; *pos = p + 1; return true;
    case AML_BYTE: size = 1; break;
    case AML_WORD: size = 2; break;
    case AML_DWORD: size = 4; break;
    case AML_QWORD: size = 8; break;
    default: return false;
    }
    if (size > end - p - 1) return false;
    u64 v = 0;
    for (usize i = 0; i < size; ++i) v |= u64{aml.at(p + 1 + i)} << (8 * i);
    *out = v;
    *pos = p + 1 + size;
    return true;
}

// The package whose PackageOp is at pos.  §20.2.4: PkgLength is 1-4 bytes; the top two bits of
// the lead byte count the bytes that follow, and the length includes the PkgLength itself.
bool aml_s5_package(Bytes aml, usize pos, u8* a, u8* b, Diagnostics* diag) {
    usize len = aml.size();
    if (pos >= len || aml.at(pos) != AML_PACKAGE) {
        if (diag) diag->warn("AML: _S5_ is not a package");
        return false;
    }
    usize pl = pos + 1;
    if (pl >= len) {
        if (diag) diag->warn("AML: _S5_ package truncated");
        return false;
    }
    u8 lead = aml.at(pl);
    usize follow = static_cast<usize>(lead >> 6);
    if (follow > len - pl - 1) {
        if (diag) diag->warn("AML: _S5_ PkgLength truncated");
        return false;
    }
    usize pkg_len = follow ? (lead & 0x0fu) : (lead & 0x3fu);
    for (usize i = 1; i <= follow; ++i) pkg_len |= usize{aml.at(pl + i)} << (4 + 8 * (i - 1));
    if (pkg_len < follow + 2 || pkg_len > len - pl) {
        if (diag) diag->warn("AML: _S5_ PkgLength %zu runs outside the table", pkg_len);
        return false;
    }
    usize end = pl + pkg_len;
    usize p = pl + follow + 1;
    u8 count = aml.at(p++);
    u64 v0 = 0, v1 = 0;
    bool ok = count >= 1 && aml_integer(aml, &p, end, &v0);
    if (ok && count >= 2) {
        ok = aml_integer(aml, &p, end, &v1);
    } else if (ok) {
        v1 = v0 >> 8;
    }
    if (!ok) {
        if (diag) diag->warn("AML: _S5_ package (%u elements) does not start with two integer constants", count);
        return false;
    }
    *a = static_cast<u8>(v0);
    *b = static_cast<u8>(v1);
    return true;
}

bool find_s5(const u8* code, usize len, u8* a, u8* b, Diagnostics* diag) {
    Bytes aml(code, len);
    // A NameString for _S5_ sits right after NameOp, optionally behind the root prefix.  Anything
    // else spelling "_S5_" (a reference, a method's name) is not the object we want.
    for (usize i = 1; i + 4 <= len; ++i) {
        if (mem_compare(code + i, "_S5_", 4) != 0) continue;
        bool named = code[i - 1] == AML_NAME || (i >= 2 && code[i - 1] == '\\' && code[i - 2] == AML_NAME);
        if (named && aml_s5_package(aml, i + 4, a, b, diag)) return true;
    }
    return false;
}

// ---------------------------------------------------------------------------------------------
// RSDP and root table

// Signature and the 20-byte checksum, which every revision has: enough to tell whether the
// extended part is worth mapping.
bool rsdp_v1_valid(const u8* p) {
    return mem_compare(p, "RSD PTR ", 8) == 0 && checksum(p, RSDP_V1_LEN) == 0;
}

Result<AcpiRsdp> rsdp_at(const PhysMemory& mem, u64 pa) {
    const void* p = mem.map(pa, RSDP_V1_LEN);
    if (!p || !rsdp_v1_valid(static_cast<const u8*>(p))) return error(XEN_ENOENT);
    RawRsdp r;
    mem_set(&r, 0, sizeof r);
    mem_copy(&r, p, RSDP_V1_LEN);
    usize len = RSDP_V1_LEN;
    if (r.revision >= 2) {
        const void* p36 = mem.map(pa, sizeof(RawRsdp));
        if (!p36) return error(XEN_ENOENT);
        mem_copy(&r, p36, sizeof r);
        if (r.length < sizeof(RawRsdp) || r.length > MAX_RSDP_LEN) return error(XEN_EINVAL);
        len = r.length;
        p = mem.map(pa, len);
        if (!p) return error(XEN_ENOENT);
    }
    auto v = acpi_check_rsdp(p, len);
    if (v) v->address = pa;
    return v;
}

Result<AcpiRsdp> scan_rsdp(const PhysMemory& mem, u64 start, u64 end) {
    for (u64 pa = start; pa + RSDP_V1_LEN <= end; pa += 16) {
        auto r = rsdp_at(mem, pa);
        if (r) return r;
    }
    return error(XEN_ENOENT);
}

struct WalkState {
    u64 ssdts[MAX_SSDTS];
    usize ssdt_count = 0;
};

void record_table(const Table& t, AcpiInfo& info) {
    if (info.table_count == AcpiInfo::MAX_TABLES) return;
    AcpiTableRef& r = info.tables[info.table_count++];
    printable(r.signature, t.hdr.signature, 4);
    r.revision = t.hdr.revision;
    r.length = static_cast<u32>(t.bytes.size());
    r.address = t.address;
}

void dispatch_table(const Table& t, AcpiInfo& info, WalkState& ws, Diagnostics& diag) {
    const RawHeader& h = t.hdr;
    if (sig_is(h, "APIC")) {
        if (info.madt_present) {
            diag.warn("second MADT at %#lx ignored", t.address);
            return;
        }
        decode_madt(t, info, diag);
    } else if (sig_is(h, "FACP")) {
        if (info.fadt.present) {
            diag.warn("second FADT at %#lx ignored", t.address);
            return;
        }
        decode_fadt(t, info, diag);
    } else if (sig_is(h, "HPET")) {
        // Multiple HPET tables describe multiple timer blocks; the first is the one that
        // replaces the legacy PIT and RTC timers.
        if (info.hpet_base == 0) decode_hpet(t, info, diag);
    } else if (sig_is(h, "SSDT")) {
        if (ws.ssdt_count < MAX_SSDTS) ws.ssdts[ws.ssdt_count++] = t.address;
    } else if (sig_is(h, "XSDT") || sig_is(h, "RSDT") || sig_is(h, "DSDT")) {
        diag.warn("root table lists %s at %#lx; ignored", sig_of(h).s, t.address);
    }
}

void walk_root(const PhysMemory& mem, const Table& root, usize entry_size, AcpiInfo& info, Diagnostics& diag) {
    WalkState ws;
    usize n = (root.bytes.size() - sizeof(RawHeader)) / entry_size;
    if (n > MAX_ROOT_ENTRIES) {
        diag.warn("%s has %zu entries; only the first %zu used", sig_of(root.hdr).s, n, MAX_ROOT_ENTRIES);
        n = MAX_ROOT_ENTRIES;
    }
    for (usize i = 0; i < n; ++i) {
        usize off = sizeof(RawHeader) + i * entry_size;
        u64 pa = 0;
        if (entry_size == 8) {
            (void)root.bytes.read(off, &pa);
        } else {
            u32 pa32 = 0;
            (void)root.bytes.read(off, &pa32);
            pa = pa32;
        }
        if (pa == 0) continue;
        Table t;
        if (!load_table(mem, pa, nullptr, diag, &t)) continue;
        record_table(t, info);
        dispatch_table(t, info, ws, diag);
    }

    if (!info.fadt.present) {
        diag.warn("no FADT: no power-off or ACPI reset");
        return;
    }
    // \_S5 normally lives in the DSDT; some firmware defines it in an SSDT instead.
    Table dsdt;
    if (info.fadt.dsdt && load_table(mem, info.fadt.dsdt, "DSDT", diag, &dsdt)) {
        Bytes body = dsdt.bytes.sub(sizeof(RawHeader), dsdt.bytes.size());
        info.s5_valid = find_s5(body.data(), body.size(), &info.slp_typa, &info.slp_typb, &diag);
    }
    for (usize i = 0; !info.s5_valid && i < ws.ssdt_count; ++i) {
        Table ssdt;
        if (!load_table(mem, ws.ssdts[i], "SSDT", diag, &ssdt)) continue;
        Bytes body = ssdt.bytes.sub(sizeof(RawHeader), ssdt.bytes.size());
        info.s5_valid = find_s5(body.data(), body.size(), &info.slp_typa, &info.slp_typb, &diag);
    }
    if (!info.s5_valid) diag.warn("no usable \\_S5 object: power-off unavailable");
}

}  // namespace

Result<AcpiRsdp> acpi_check_rsdp(const void* bytes, usize len) {
    if (!bytes || len < RSDP_V1_LEN) return error(XEN_EINVAL);
    const auto* p = static_cast<const u8*>(bytes);
    RawRsdp r;
    mem_set(&r, 0, sizeof r);
    mem_copy(&r, p, min(len, sizeof r));
    if (!rsdp_v1_valid(p)) return error(XEN_EINVAL);
    AcpiRsdp out;
    out.revision = r.revision;
    printable(out.oem_id, r.oem_id, 6);
    out.rsdt = r.rsdt;
    // Revision 1 was never defined; 2 and later all carry the extended fields.
    if (r.revision >= 2) {
        if (len < sizeof(RawRsdp) || r.length < sizeof(RawRsdp) || r.length > len) return error(XEN_EINVAL);
        if (checksum(p, r.length) != 0) return error(XEN_EINVAL);
        out.xsdt = r.xsdt;
    }
    return out;
}

Result<AcpiRsdp> acpi_find_rsdp(const PhysMemory& mem, const void* copy, usize copy_len, Diagnostics& diag) {
    if (copy) {
        auto r = acpi_check_rsdp(copy, copy_len);
        if (r) return r;
        diag.warn("boot loader's RSDP copy (%zu bytes) is invalid; scanning", copy_len);
    }
    if (const void* bda = mem.map(BDA_EBDA_SEGMENT, 2)) {
        u16 seg;
        mem_copy(&seg, bda, sizeof seg);
        u64 ebda = u64{seg} << 4;
        if (ebda >= EBDA_MIN && ebda < EBDA_MAX) {
            auto r = scan_rsdp(mem, ebda, ebda + EBDA_SCAN_LEN);
            if (r) return r;
        }
    }
    return scan_rsdp(mem, BIOS_AREA_START, BIOS_AREA_END);
}

Result<void> acpi_parse(const PhysMemory& mem, const void* rsdp_copy, usize rsdp_len, AcpiInfo& info,
                        Diagnostics& diag) {
    auto rsdp = acpi_find_rsdp(mem, rsdp_copy, rsdp_len, diag);
    if (!rsdp) {
        diag.warn("no valid RSDP found");
        return error(XEN_ENOENT);
    }
    info.revision = rsdp->revision;
    mem_copy(info.oem_id, rsdp->oem_id, sizeof info.oem_id);
    info.rsdp_address = rsdp->address;

    Table root;
    bool have_root = false;
    if (rsdp->xsdt) {
        have_root = load_table(mem, rsdp->xsdt, "XSDT", diag, &root);
        if (!have_root && rsdp->rsdt) diag.warn("XSDT unusable; falling back to the RSDT");
    }
    info.xsdt_used = have_root;
    if (!have_root && rsdp->rsdt) have_root = load_table(mem, rsdp->rsdt, "RSDT", diag, &root);
    if (!have_root) {
        diag.warn("no usable root table (XSDT %#lx, RSDT %#x)", rsdp->xsdt, rsdp->rsdt);
        return error(XEN_EINVAL);
    }
    info.root_address = root.address;
    walk_root(mem, root, info.xsdt_used ? 8 : 4, info, diag);
    return ok();
}

bool acpi_find_s5(const u8* aml, usize len, u8* slp_typa, u8* slp_typb) {
    return find_s5(aml, len, slp_typa, slp_typb, nullptr);
}

}  // namespace pv
