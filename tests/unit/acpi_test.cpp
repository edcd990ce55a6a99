// ACPI discovery and decoding against synthetic firmware: tables are built byte by byte in a fake
// physical memory, with checksums computed here, then damaged in the ways broken or hostile
// firmware damages them.
#include "core/acpi.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using pv::Diagnostics;
using pv::AcpiInfo;
using Blob = std::vector<uint8_t>;

// Physical memory as a set of disjoint regions; everything else is a hole.
class FakePhys final : public pv::PhysMemory {
public:
    const void* map(uint64_t pa, size_t len) const override {
        auto it = regions_.upper_bound(pa);
        if (it == regions_.begin()) return nullptr;
        --it;
        uint64_t off = pa - it->first;
        const Blob& b = it->second;
        if (off > b.size() || len > b.size() - off) return nullptr;
        return b.data() + off;
    }
    void put(uint64_t pa, Blob bytes) { regions_[pa] = std::move(bytes); }
    // Writes into an existing region (e.g. the BIOS area).
    void poke(uint64_t pa, const Blob& bytes) {
        auto it = --regions_.upper_bound(pa);
        std::memcpy(it->second.data() + (pa - it->first), bytes.data(), bytes.size());
    }

private:
    std::map<uint64_t, Blob> regions_;
};

void put_le(Blob& b, size_t off, uint64_t v, size_t size) {
    if (b.size() < off + size) b.resize(off + size);
    for (size_t i = 0; i < size; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
void append(Blob& b, const Blob& more) { b.insert(b.end(), more.begin(), more.end()); }
uint8_t sum(const uint8_t* p, size_t n) {
    uint8_t s = 0;
    for (size_t i = 0; i < n; ++i) s = static_cast<uint8_t>(s + p[i]);
    return s;
}

// Sets the header length to the blob's size and fixes the checksum (ACPI §5.2.6).
void finish(Blob& t) {
    put_le(t, 4, t.size(), 4);
    t[9] = 0;
    t[9] = static_cast<uint8_t>(-sum(t.data(), t.size()));
}

Blob sdt(const char* sig, uint8_t rev, const Blob& body) {
    Blob t(36, 0);
    std::memcpy(t.data(), sig, 4);
    t[8] = rev;
    std::memcpy(&t[10], "PVTEST", 6);
    std::memcpy(&t[16], "PVTABLE ", 8);
    append(t, body);
    finish(t);
    return t;
}

Blob make_rsdp(uint8_t rev, uint32_t rsdt, uint64_t xsdt) {
    Blob r(rev >= 2 ? 36 : 20, 0);
    std::memcpy(r.data(), "RSD PTR ", 8);
    std::memcpy(&r[9], "BOCHS ", 6);
    r[15] = rev;
    put_le(r, 16, rsdt, 4);
    r[8] = static_cast<uint8_t>(-sum(r.data(), 20));
    if (rev >= 2) {
        put_le(r, 20, 36, 4);
        put_le(r, 24, xsdt, 8);
        r[32] = static_cast<uint8_t>(-sum(r.data(), 36));
    }
    return r;
}

Blob make_xsdt(const std::vector<uint64_t>& entries) {
    Blob body;
    for (uint64_t e : entries) put_le(body, body.size(), e, 8);
    return sdt("XSDT", 1, body);
}
Blob make_rsdt(const std::vector<uint32_t>& entries) {
    Blob body;
    for (uint32_t e : entries) put_le(body, body.size(), e, 4);
    return sdt("RSDT", 1, body);
}

// MADT entries, ACPI §5.2.12.
Blob e_lapic(uint8_t uid, uint8_t id, uint32_t flags) {
    Blob e{0, 8, uid, id};
    put_le(e, 4, flags, 4);
    return e;
}
Blob e_ioapic(uint8_t id, uint32_t addr, uint32_t gsi) {
    Blob e{1, 12, id, 0};
    put_le(e, 4, addr, 4);
    put_le(e, 8, gsi, 4);
    return e;
}
Blob e_override(uint8_t src, uint32_t gsi, uint16_t flags) {
    Blob e{2, 10, 0, src};
    put_le(e, 4, gsi, 4);
    put_le(e, 8, flags, 2);
    return e;
}
Blob e_nmi_source(uint16_t flags, uint32_t gsi) {
    Blob e{3, 8};
    put_le(e, 2, flags, 2);
    put_le(e, 4, gsi, 4);
    return e;
}
Blob e_lapic_nmi(uint8_t uid, uint16_t flags, uint8_t lint) {
    Blob e{4, 6, uid};
    put_le(e, 3, flags, 2);
    e.push_back(lint);
    return e;
}
Blob e_lapic_address(uint64_t a) {
    Blob e{5, 12, 0, 0};
    put_le(e, 4, a, 8);
    return e;
}
Blob e_x2apic(uint32_t id, uint32_t flags, uint32_t uid) {
    Blob e{9, 16, 0, 0};
    put_le(e, 4, id, 4);
    put_le(e, 8, flags, 4);
    put_le(e, 12, uid, 4);
    return e;
}
Blob e_x2apic_nmi(uint32_t uid, uint16_t flags, uint8_t lint) {
    Blob e{10, 12};
    put_le(e, 2, flags, 2);
    put_le(e, 4, uid, 4);
    put_le(e, 8, lint, 1);
    put_le(e, 9, 0, 3);
    return e;
}

Blob make_madt(const std::vector<Blob>& entries, uint8_t rev = 5, uint32_t lapic = 0xfee00000, uint32_t flags = 1) {
    Blob body;
    put_le(body, 0, lapic, 4);
    put_le(body, 4, flags, 4);
    for (const Blob& e : entries) append(body, e);
    return sdt("APIC", rev, body);
}

// FADT field offsets, ACPI §5.2.9 Table 5.9.
enum FadtOff : size_t {
    F_DSDT = 40, F_SCI = 46, F_PM1A_EVT = 56, F_PM1B_EVT = 60, F_PM1A_CNT = 64, F_PM1B_CNT = 68,
    F_PM1_EVT_LEN = 88, F_PM1_CNT_LEN = 89, F_CENTURY = 108, F_BOOT_ARCH = 109, F_FLAGS = 112,
    F_RESET_REG = 116, F_RESET_VALUE = 128, F_MINOR = 131, F_X_DSDT = 140, F_X_PM1A_EVT = 148,
    F_X_PM1B_EVT = 160, F_X_PM1A_CNT = 172, F_X_PM1B_CNT = 184, F_SLEEP_CONTROL = 244, F_SLEEP_STATUS = 256,
    F_END = 276,
};
void put_gas(Blob& t, size_t off, uint8_t space, uint8_t width, uint64_t addr) {
    t[off] = space;
    t[off + 1] = width;
    t[off + 2] = 0;
    t[off + 3] = 1;
    put_le(t, off + 4, addr, 8);
}

// A PIIX4-like FADT: PM1a event block at 0x600, control at 0x604, SCI 9.
Blob fadt_base(uint32_t dsdt, size_t len = F_END, uint8_t rev = 6) {
    Blob t(F_END, 0);
    std::memcpy(t.data(), "FACP", 4);
    t[8] = rev;
    put_le(t, F_DSDT, dsdt, 4);
    put_le(t, F_SCI, 9, 2);
    put_le(t, F_PM1A_EVT, 0x600, 4);
    put_le(t, F_PM1A_CNT, 0x604, 4);
    t[F_PM1_EVT_LEN] = 4;
    t[F_PM1_CNT_LEN] = 2;
    t[F_CENTURY] = 0x32;
    put_le(t, F_BOOT_ARCH, 0x0003, 2);
    t.resize(len);
    return t;
}

// AML helpers (ACPI §20.2).
Blob pkg_length(size_t len, size_t nbytes) {
    if (nbytes == 1) return {static_cast<uint8_t>(len)};
    Blob b{static_cast<uint8_t>(((nbytes - 1) << 6) | (len & 0xf))};
    for (size_t i = 1; i < nbytes; ++i) b.push_back(static_cast<uint8_t>(len >> (4 + 8 * (i - 1))));
    return b;
}
// Name(_S5_, Package(num){elements..., padding zeros}).
Blob s5_name(const Blob& elements, uint8_t num, size_t pkg_bytes = 1, size_t pad = 0, bool root = false) {
    Blob content{num};
    append(content, elements);
    content.resize(content.size() + pad, 0x00);
    Blob b{0x08};
    if (root) b.push_back('\\');
    append(b, {'_', 'S', '5', '_', 0x12});
    append(b, pkg_length(content.size() + pkg_bytes, pkg_bytes));
    append(b, content);
    return b;
}
// What QEMU generates: Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero }), among other objects.
Blob qemu_like_aml() {
    Blob aml{0x10, 0x0a, '\\', '_', 'S', 'B', '_', 0x5b, 0x80, 'P', 'C', 'I', '0'};  // junk scope prefix
    append(aml, s5_name({0x00, 0x00, 0x00}, 4));
    append(aml, {0x08, '_', 'S', '4', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00});
    return aml;
}

constexpr uint64_t BIOS_AREA = 0xe0000;
constexpr uint64_t TABLES = 0x7fe0000;

bool has_diag(const Diagnostics& d, const std::string& needle) {
    for (size_t i = 0; i < d.count(); ++i)
        if (std::string(d.message(i)).find(needle) != std::string::npos) return true;
    return false;
}
std::string all_diags(const Diagnostics& d) {
    std::string s;
    for (size_t i = 0; i < d.count(); ++i) s += std::string(d.message(i)) + "\n";
    return s;
}

// A whole machine: tables at fixed addresses, each in its own memory region so a length that
// runs past a table runs past accessible memory.
struct Machine {
    FakePhys mem;
    Blob rsdp;
    std::unique_ptr<AcpiInfo> info = std::make_unique<AcpiInfo>();
    Diagnostics diag;

    static constexpr uint64_t XSDT = TABLES + 0x0000, RSDT = TABLES + 0x1000, FADT = TABLES + 0x2000,
                              MADT = TABLES + 0x3000, HPET = TABLES + 0x4000, DSDT = TABLES + 0x5000,
                              SSDT = TABLES + 0x6000, EXTRA = TABLES + 0x7000;

    // The standard machine: XSDT and RSDT list FADT, MADT, HPET; DSDT holds \_S5.
    void standard() {
        rsdp = make_rsdp(2, RSDT, XSDT);
        mem.put(XSDT, make_xsdt({FADT, MADT, HPET}));
        mem.put(RSDT, make_rsdt({FADT, MADT, HPET}));
        Blob f = fadt_base(DSDT);
        put_le(f, F_X_DSDT, DSDT, 8);
        finish(f);
        mem.put(FADT, f);
        mem.put(MADT, make_madt({e_lapic(0, 0, 1), e_lapic(1, 1, 1), e_ioapic(0, 0xfec00000, 0),
                                 e_override(0, 2, 0), e_override(9, 9, 0xd), e_lapic_nmi(0xff, 0, 1)}));
        Blob hpet_body(20, 0);
        put_le(hpet_body, 0, 0x8086a201, 4);
        put_gas(hpet_body, 4, 0, 64, 0xfed00000);
        mem.put(HPET, sdt("HPET", 1, hpet_body));
        mem.put(DSDT, sdt("DSDT", 1, qemu_like_aml()));
    }
    pv::Result<void> parse() { return pv::acpi_parse(mem, rsdp.data(), rsdp.size(), *info, diag); }
    void replace(uint64_t pa, Blob b) { mem.put(pa, std::move(b)); }
};

// ---------------------------------------------------------------------------------------------

TEST(AcpiParse, StandardMachine) {
    Machine m;
    m.standard();
    auto r = m.parse();
    ASSERT_TRUE(r.ok()) << all_diags(m.diag);
    const AcpiInfo& i = *m.info;
    EXPECT_EQ(m.diag.count(), 0u) << all_diags(m.diag);
    EXPECT_EQ(i.revision, 2);
    EXPECT_STREQ(i.oem_id, "BOCHS ");
    EXPECT_EQ(i.rsdp_address, 0u);
    EXPECT_TRUE(i.xsdt_used);
    EXPECT_EQ(i.root_address, Machine::XSDT);
    ASSERT_EQ(i.table_count, 3u);
    EXPECT_STREQ(i.tables[0].signature, "FACP");
    EXPECT_EQ(i.tables[0].address, Machine::FADT);
    EXPECT_EQ(i.tables[0].length, 276u);
    EXPECT_STREQ(i.tables[1].signature, "APIC");
    EXPECT_STREQ(i.tables[2].signature, "HPET");

    EXPECT_TRUE(i.madt_present);
    EXPECT_EQ(i.lapic_base, 0xfee00000u);
    EXPECT_TRUE(i.pcat_compat);
    ASSERT_EQ(i.cpu_count, 2u);
    EXPECT_EQ(i.cpus[0].apic_id, 0u);
    EXPECT_EQ(i.cpus[1].apic_id, 1u);
    EXPECT_EQ(i.cpus[1].acpi_uid, 1u);
    EXPECT_TRUE(i.cpus[1].enabled);
    EXPECT_FALSE(i.cpus[1].x2apic);
    ASSERT_EQ(i.ioapic_count, 1u);
    EXPECT_EQ(i.ioapics[0].address, 0xfec00000u);
    EXPECT_EQ(i.ioapics[0].gsi_base, 0u);
    ASSERT_EQ(i.override_count, 2u);
    EXPECT_EQ(i.overrides[0].source, 0);
    EXPECT_EQ(i.overrides[0].gsi, 2u);
    EXPECT_EQ(i.overrides[1].source, 9);
    EXPECT_EQ(i.overrides[1].flags, 0xd);
    ASSERT_EQ(i.lapic_nmi_count, 1u);
    EXPECT_EQ(i.lapic_nmis[0].acpi_uid, pv::AcpiLapicNmi::ALL_CPUS);
    EXPECT_EQ(i.lapic_nmis[0].lint, 1);

    const pv::AcpiFadt& f = i.fadt;
    EXPECT_TRUE(f.present);
    EXPECT_EQ(f.revision, 6);
    EXPECT_EQ(f.sci_irq, 9);
    EXPECT_EQ(f.pm1a_cnt.space, pv::AcpiGas::SPACE_IO);
    EXPECT_EQ(f.pm1a_cnt.address, 0x604u);
    EXPECT_EQ(f.pm1a_cnt.bit_width, 16);
    EXPECT_EQ(f.pm1a_evt.address, 0x600u);
    EXPECT_EQ(f.pm1a_evt.bit_width, 32);
    EXPECT_FALSE(f.pm1b_cnt.present());
    EXPECT_FALSE(f.pm1b_evt.present());
    EXPECT_FALSE(f.reset_supported);
    EXPECT_FALSE(f.hw_reduced);
    EXPECT_EQ(f.dsdt, Machine::DSDT);
    EXPECT_EQ(f.century, 0x32);
    EXPECT_EQ(f.iapc_boot_arch, 3);

    EXPECT_EQ(i.hpet_base, 0xfed00000u);
    EXPECT_TRUE(i.s5_valid);
    EXPECT_EQ(i.slp_typa, 0);
    EXPECT_EQ(i.slp_typb, 0);
}

TEST(AcpiParse, RsdtOnlyRevision0FoundInBiosArea) {
    Machine m;
    m.standard();
    m.mem.put(BIOS_AREA, Blob(0x20000, 0));
    m.mem.poke(0xf5a30, make_rsdp(0, Machine::RSDT, 0));
    auto r = pv::acpi_parse(m.mem, nullptr, 0, *m.info, m.diag);
    ASSERT_TRUE(r.ok()) << all_diags(m.diag);
    EXPECT_EQ(m.info->revision, 0);
    EXPECT_EQ(m.info->rsdp_address, 0xf5a30u);
    EXPECT_FALSE(m.info->xsdt_used);
    EXPECT_EQ(m.info->root_address, Machine::RSDT);
    EXPECT_EQ(m.info->cpu_count, 2u);
    EXPECT_TRUE(m.info->s5_valid);
}

TEST(AcpiRsdp, EbdaSearchedFirst) {
    FakePhys mem;
    Blob low(0x1000, 0);
    put_le(low, 0x40e, 0x9fc0, 2);  // EBDA at 0x9fc00
    mem.put(0, low);
    Blob ebda(0x400, 0);
    Blob r1 = make_rsdp(2, 0x1111, 0x2222);
    std::memcpy(&ebda[0x40], r1.data(), r1.size());
    mem.put(0x9fc00, ebda);
    Blob bios(0x20000, 0);
    Blob r2 = make_rsdp(0, 0x3333, 0);
    std::memcpy(&bios[0x10], r2.data(), r2.size());
    mem.put(BIOS_AREA, bios);

    Diagnostics d;
    auto r = pv::acpi_find_rsdp(mem, nullptr, 0, d);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->address, 0x9fc40u);
    EXPECT_EQ(r->xsdt, 0x2222u);
    EXPECT_EQ(r->rsdt, 0x1111u);
}

TEST(AcpiRsdp, ScanSkipsBadCandidatesAndUnalignedCopies) {
    FakePhys mem;
    Blob bios(0x20000, 0);
    Blob bad = make_rsdp(2, 0x1000, 0x2000);
    bad[8] ^= 1;  // v1 checksum broken
    std::memcpy(&bios[0x100], bad.data(), bad.size());
    Blob bad_ext = make_rsdp(2, 0x1000, 0x2000);
    bad_ext[32] ^= 1;  // extended checksum broken
    std::memcpy(&bios[0x200], bad_ext.data(), bad_ext.size());
    Blob good = make_rsdp(2, 0x5000, 0x6000);
    std::memcpy(&bios[0x308], good.data(), good.size());  // not on a 16-byte boundary: not found
    std::memcpy(&bios[0x400], good.data(), good.size());
    mem.put(BIOS_AREA, bios);
    Diagnostics d;
    auto r = pv::acpi_find_rsdp(mem, nullptr, 0, d);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->address, BIOS_AREA + 0x400);
    EXPECT_EQ(r->xsdt, 0x6000u);
}

TEST(AcpiRsdp, RsdpAtTheVeryEndOfTheBiosArea) {
    FakePhys mem;
    Blob bios(0x20000, 0);
    Blob v1 = make_rsdp(0, 0x1234, 0);
    std::memcpy(&bios[0x20000 - 32], v1.data(), v1.size());
    mem.put(BIOS_AREA, bios);
    Diagnostics d;
    auto r = pv::acpi_find_rsdp(mem, nullptr, 0, d);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->rsdt, 0x1234u);
}

TEST(AcpiRsdp, CheckRejectsMalformedCopies) {
    Blob good = make_rsdp(2, 1, 2);
    EXPECT_TRUE(pv::acpi_check_rsdp(good.data(), good.size()).ok());
    EXPECT_FALSE(pv::acpi_check_rsdp(good.data(), 19).ok());
    EXPECT_FALSE(pv::acpi_check_rsdp(good.data(), 20).ok());  // revision 2 needs 36 bytes
    EXPECT_FALSE(pv::acpi_check_rsdp(nullptr, 36).ok());
    Blob sig = good;
    sig[0] = 'X';
    EXPECT_FALSE(pv::acpi_check_rsdp(sig.data(), sig.size()).ok());
    Blob longer = good;
    put_le(longer, 20, 64, 4);  // claims more than the copy holds
    longer[32] = 0;
    longer[32] = static_cast<uint8_t>(-sum(longer.data(), 36));
    EXPECT_FALSE(pv::acpi_check_rsdp(longer.data(), longer.size()).ok());
    Blob v1 = make_rsdp(0, 7, 0);
    auto r = pv::acpi_check_rsdp(v1.data(), v1.size());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->xsdt, 0u);
    EXPECT_EQ(r->rsdt, 7u);
}

TEST(AcpiRsdp, InvalidCopyFallsBackToScan) {
    Machine m;
    m.standard();
    m.mem.put(BIOS_AREA, Blob(0x20000, 0));
    m.mem.poke(0xf0000, make_rsdp(2, Machine::RSDT, Machine::XSDT));
    m.rsdp[8] ^= 0x55;
    ASSERT_TRUE(m.parse().ok());
    EXPECT_EQ(m.info->rsdp_address, 0xf0000u);
    EXPECT_TRUE(has_diag(m.diag, "RSDP copy")) << all_diags(m.diag);
}

TEST(AcpiParse, NoRsdpAnywhere) {
    FakePhys mem;
    mem.put(0, Blob(0x1000, 0));
    mem.put(BIOS_AREA, Blob(0x20000, 0));
    AcpiInfo info;
    Diagnostics d;
    auto r = pv::acpi_parse(mem, nullptr, 0, info, d);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), XEN_ENOENT);
    EXPECT_TRUE(has_diag(d, "no valid RSDP"));
}

TEST(AcpiParse, BadXsdtFallsBackToRsdt) {
    Machine m;
    m.standard();
    Blob x = make_xsdt({Machine::FADT});
    x[20] ^= 1;
    m.replace(Machine::XSDT, x);
    ASSERT_TRUE(m.parse().ok());
    EXPECT_FALSE(m.info->xsdt_used);
    EXPECT_EQ(m.info->root_address, Machine::RSDT);
    EXPECT_TRUE(m.info->madt_present);
    EXPECT_TRUE(has_diag(m.diag, "XSDT at")) << all_diags(m.diag);
    EXPECT_TRUE(has_diag(m.diag, "falling back to the RSDT"));
}

TEST(AcpiParse, NoUsableRootTable) {
    Machine m;
    m.standard();
    m.replace(Machine::XSDT, Blob(8, 0));
    m.replace(Machine::RSDT, sdt("RSDX", 1, {}));
    auto r = m.parse();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), XEN_EINVAL);
}

TEST(AcpiParse, BadTableChecksumSkipped) {
    Machine m;
    m.standard();
    Blob madt = make_madt({e_lapic(0, 0, 1)});
    madt.back() ^= 0x80;
    m.replace(Machine::MADT, madt);
    ASSERT_TRUE(m.parse().ok());
    EXPECT_FALSE(m.info->madt_present);
    EXPECT_EQ(m.info->cpu_count, 0u);
    EXPECT_TRUE(has_diag(m.diag, "APIC at 0x7fe3000: bad checksum")) << all_diags(m.diag);
    EXPECT_TRUE(m.info->fadt.present);
    EXPECT_EQ(m.info->table_count, 2u);
}

TEST(AcpiParse, TableLengthsOutOfRange) {
    for (uint32_t bad_len : {0u, 35u, 0x5000u, 0xffffffffu}) {
        Machine m;
        m.standard();
        Blob madt = make_madt({e_lapic(0, 0, 1)});
        put_le(madt, 4, bad_len, 4);
        m.replace(Machine::MADT, madt);
        ASSERT_TRUE(m.parse().ok());
        EXPECT_FALSE(m.info->madt_present) << bad_len;
        EXPECT_TRUE(has_diag(m.diag, "APIC at 0x7fe3000")) << all_diags(m.diag);
    }
}

TEST(AcpiParse, TruncatedTableHeaderAndHoles) {
    Machine m;
    m.standard();
    m.replace(Machine::HPET, Blob{'H', 'P', 'E', 'T', 56, 0});  // region shorter than a header
    m.replace(Machine::XSDT, make_xsdt({Machine::FADT, 0, 0xdead0000, Machine::HPET, Machine::MADT}));
    ASSERT_TRUE(m.parse().ok());
    EXPECT_TRUE(has_diag(m.diag, "0xdead0000: header not accessible")) << all_diags(m.diag);
    EXPECT_TRUE(has_diag(m.diag, "0x7fe4000: header not accessible"));
    EXPECT_EQ(m.info->hpet_base, 0u);
    EXPECT_TRUE(m.info->madt_present);
}

TEST(AcpiParse, XsdtListingItselfAndTheDsdt) {
    Machine m;
    m.standard();
    m.replace(Machine::XSDT, make_xsdt({Machine::XSDT, Machine::MADT, Machine::XSDT, Machine::DSDT, Machine::FADT}));
    ASSERT_TRUE(m.parse().ok());
    EXPECT_TRUE(m.info->madt_present);
    EXPECT_TRUE(m.info->s5_valid);
    EXPECT_TRUE(has_diag(m.diag, "root table lists XSDT")) << all_diags(m.diag);
    EXPECT_TRUE(has_diag(m.diag, "root table lists DSDT"));
}

TEST(AcpiParse, XsdtOddLengthAndDuplicates) {
    Machine m;
    m.standard();
    Blob x = make_xsdt({Machine::MADT, Machine::MADT, Machine::FADT, Machine::FADT});
    x.push_back(0xaa);  // a stray byte: not a whole entry
    finish(x);
    m.replace(Machine::XSDT, x);
    ASSERT_TRUE(m.parse().ok());
    EXPECT_EQ(m.info->cpu_count, 2u);
    EXPECT_TRUE(has_diag(m.diag, "second MADT"));
    EXPECT_TRUE(has_diag(m.diag, "second FADT"));
}

TEST(AcpiParse, HugeXsdtIsCapped) {
    Machine m;
    m.standard();
    std::vector<uint64_t> many(1000, 0);
    many[0] = Machine::FADT;
    m.replace(Machine::XSDT, make_xsdt(many));
    ASSERT_TRUE(m.parse().ok());
    EXPECT_TRUE(has_diag(m.diag, "XSDT has 1000 entries")) << all_diags(m.diag);
}

TEST(AcpiParse, HpetMustBeInMemorySpace) {
    Machine m;
    m.standard();
    Blob body(20, 0);
    put_gas(body, 4, 1, 64, 0xfed00000);
    m.replace(Machine::HPET, sdt("HPET", 1, body));
    ASSERT_TRUE(m.parse().ok());
    EXPECT_EQ(m.info->hpet_base, 0u);
    EXPECT_TRUE(has_diag(m.diag, "HPET: base in address space 1"));
}

TEST(AcpiParse, NoFadtMeansNoS5) {
    Machine m;
    m.standard();
    m.replace(Machine::XSDT, make_xsdt({Machine::MADT}));
    ASSERT_TRUE(m.parse().ok());
    EXPECT_FALSE(m.info->fadt.present);
    EXPECT_FALSE(m.info->s5_valid);
    EXPECT_TRUE(has_diag(m.diag, "no FADT"));
}

TEST(AcpiParse, S5FromSsdtWhenDsdtLacksIt) {
    Machine m;
    m.standard();
    m.replace(Machine::DSDT, sdt("DSDT", 2, {0x10, 0x05, '_', 'S', 'B', '_'}));
    m.replace(Machine::SSDT, sdt("SSDT", 2, s5_name({0x0a, 0x07, 0x0a, 0x05}, 2)));
    m.replace(Machine::XSDT, make_xsdt({Machine::FADT, Machine::SSDT}));
    ASSERT_TRUE(m.parse().ok());
    ASSERT_TRUE(m.info->s5_valid);
    EXPECT_EQ(m.info->slp_typa, 7);
    EXPECT_EQ(m.info->slp_typb, 5);
}

TEST(AcpiParse, BadDsdtChecksumMeansNoS5) {
    Machine m;
    m.standard();
    Blob d = sdt("DSDT", 1, qemu_like_aml());
    d[40] ^= 1;
    m.replace(Machine::DSDT, d);
    ASSERT_TRUE(m.parse().ok());
    EXPECT_FALSE(m.info->s5_valid);
    EXPECT_TRUE(has_diag(m.diag, "DSDT at 0x7fe5000: bad checksum")) << all_diags(m.diag);
    EXPECT_TRUE(has_diag(m.diag, "no usable \\_S5"));
}

TEST(AcpiParse, FadtPointsAtWrongTableForDsdt) {
    Machine m;
    m.standard();
    Blob f = fadt_base(Machine::MADT);
    finish(f);
    m.replace(Machine::FADT, f);
    ASSERT_TRUE(m.parse().ok());
    EXPECT_FALSE(m.info->s5_valid);
    EXPECT_TRUE(has_diag(m.diag, "signature 'APIC', expected 'DSDT'")) << all_diags(m.diag);
}

// ---------------------------------------------------------------------------------------------
// MADT

struct MadtCase {
    Machine m;
    explicit MadtCase(Blob madt) {
        m.standard();
        m.replace(Machine::MADT, std::move(madt));
        EXPECT_TRUE(m.parse().ok());
    }
    const AcpiInfo& info() const { return *m.info; }
};

TEST(AcpiMadt, ZeroLengthEntryStopsTheWalk) {
    Blob body;
    put_le(body, 0, 0xfee00000, 4);
    put_le(body, 4, 0, 4);
    append(body, e_lapic(0, 0, 1));
    append(body, {0, 0, 0, 0, 0, 0, 0, 0});  // type 0, length 0
    append(body, e_lapic(1, 1, 1));
    MadtCase c(sdt("APIC", 5, body));
    EXPECT_EQ(c.info().cpu_count, 1u);
    EXPECT_FALSE(c.info().pcat_compat);
    EXPECT_TRUE(has_diag(c.m.diag, "entry at offset 52 has length 0")) << all_diags(c.m.diag);
}

TEST(AcpiMadt, LengthOneEntryStopsTheWalk) {
    MadtCase c(make_madt({e_lapic(0, 0, 1), {1, 1}, e_lapic(1, 1, 1)}));
    EXPECT_EQ(c.info().cpu_count, 1u);
    EXPECT_TRUE(has_diag(c.m.diag, "has length 1"));
}

TEST(AcpiMadt, EntryRunningPastTheTable) {
    Blob tail = e_ioapic(3, 0xfec01000, 24);
    tail[1] = 40;
    MadtCase c(make_madt({e_lapic(0, 0, 1), tail}));
    EXPECT_EQ(c.info().cpu_count, 1u);
    EXPECT_EQ(c.info().ioapic_count, 0u);
    EXPECT_TRUE(has_diag(c.m.diag, "runs past the table end"));
}

TEST(AcpiMadt, StrayByteAtTheEnd) {
    MadtCase c(make_madt({e_lapic(0, 0, 1), {9}}));
    EXPECT_EQ(c.info().cpu_count, 1u);
    EXPECT_TRUE(has_diag(c.m.diag, "stray byte"));
}

TEST(AcpiMadt, ShortEntriesSkippedLongerOnesAccepted) {
    Blob short_io = e_ioapic(1, 0xfec00000, 0);
    short_io.resize(8);
    short_io[1] = 8;
    Blob long_lapic = e_lapic(2, 2, 1);
    long_lapic.resize(12, 0xee);  // a future revision's longer entry
    long_lapic[1] = 12;
    MadtCase c(make_madt({short_io, long_lapic, e_ioapic(2, 0xfec10000, 24)}));
    ASSERT_EQ(c.info().ioapic_count, 1u);
    EXPECT_EQ(c.info().ioapics[0].id, 2);
    EXPECT_EQ(c.info().ioapics[0].gsi_base, 24u);
    ASSERT_EQ(c.info().cpu_count, 1u);
    EXPECT_EQ(c.info().cpus[0].apic_id, 2u);
    EXPECT_TRUE(has_diag(c.m.diag, "type 1 entry has length 8, needs 12"));
}

TEST(AcpiMadt, TooShortForItsFixedFields) {
    MadtCase c(sdt("APIC", 5, {0, 0, 0xe0}));
    EXPECT_FALSE(c.info().madt_present);
    EXPECT_TRUE(has_diag(c.m.diag, "too short for a MADT"));
}

TEST(AcpiMadt, ProcessorFlagsAndX2apic) {
    MadtCase c(make_madt({
        e_lapic(0, 0, 1),
        e_lapic(1, 1, 0),           // unusable: skipped
        e_lapic(2, 2, 2),           // online-capable (MADT revision 5)
        e_lapic(3, 0xff, 1),        // broadcast id: ignored
        e_lapic(4, 0, 1),           // duplicate of APIC id 0
        e_x2apic(0x100, 1, 0x100),  // only expressible as x2APIC
        e_x2apic(0xffffffff, 1, 7),
        e_x2apic(0x101, 3, 0x101),
        e_x2apic_nmi(0xffffffff, 5, 1),
        e_nmi_source(0xf, 2),
    }));
    const AcpiInfo& i = c.info();
    ASSERT_EQ(i.cpu_count, 4u);
    EXPECT_EQ(i.cpus[0].apic_id, 0u);
    EXPECT_EQ(i.cpus[1].apic_id, 2u);
    EXPECT_FALSE(i.cpus[1].enabled);
    EXPECT_TRUE(i.cpus[1].online_capable);
    EXPECT_EQ(i.cpus[2].apic_id, 0x100u);
    EXPECT_TRUE(i.cpus[2].x2apic);
    EXPECT_TRUE(i.cpus[2].enabled);
    EXPECT_EQ(i.cpus[3].apic_id, 0x101u);
    EXPECT_TRUE(i.cpus[3].enabled);
    EXPECT_TRUE(i.cpus[3].online_capable);
    EXPECT_TRUE(has_diag(c.m.diag, "duplicate APIC id 0"));
    EXPECT_TRUE(has_diag(c.m.diag, "APIC id 0xff ignored"));
    ASSERT_EQ(i.lapic_nmi_count, 1u);
    EXPECT_EQ(i.lapic_nmis[0].acpi_uid, pv::AcpiLapicNmi::ALL_CPUS);
    EXPECT_EQ(i.lapic_nmis[0].flags, 5);
    ASSERT_EQ(i.nmi_source_count, 1u);
    EXPECT_EQ(i.nmi_sources[0].gsi, 2u);
    EXPECT_EQ(i.nmi_sources[0].flags, 0xf);
}

TEST(AcpiMadt, OnlineCapableIgnoredBeforeRevision5) {
    MadtCase c(make_madt({e_lapic(0, 0, 1), e_lapic(1, 1, 2)}, 4));
    EXPECT_EQ(c.info().cpu_count, 1u);
}

TEST(AcpiMadt, LapicAddressOverride) {
    MadtCase c(make_madt({e_lapic(0, 0, 1), e_lapic_address(0x1'0000'0000ull)}, 5, 0xfee00000));
    EXPECT_EQ(c.info().lapic_base, 0x1'0000'0000ull);
}

TEST(AcpiMadt, CapacityLimits) {
    std::vector<Blob> e;
    for (uint32_t id = 0; id < 300; ++id) e.push_back(e_x2apic(id, 1, id));
    for (uint8_t id = 0; id < 10; ++id) e.push_back(e_ioapic(id, 0xfec00000 + id * 0x1000u, id * 24u));
    for (uint8_t irq = 0; irq < 20; ++irq) e.push_back(e_override(irq, irq, 0));
    MadtCase c(make_madt(e));
    EXPECT_EQ(c.info().cpu_count, AcpiInfo::MAX_CPUS);
    EXPECT_EQ(c.info().cpus_dropped, 300 - AcpiInfo::MAX_CPUS);
    EXPECT_EQ(c.info().cpus[255].apic_id, 255u);
    EXPECT_EQ(c.info().ioapic_count, AcpiInfo::MAX_IOAPICS);
    EXPECT_EQ(c.info().override_count, AcpiInfo::MAX_OVERRIDES);
    EXPECT_TRUE(has_diag(c.m.diag, "more than 256 CPUs"));
}

// ---------------------------------------------------------------------------------------------
// FADT

struct FadtCase {
    Machine m;
    explicit FadtCase(Blob fadt) {
        m.standard();
        finish(fadt);
        m.replace(Machine::FADT, std::move(fadt));
        EXPECT_TRUE(m.parse().ok());
    }
    const pv::AcpiFadt& f() const { return m.info->fadt; }
};

TEST(AcpiFadt, Acpi1Length116) {
    Blob t = fadt_base(Machine::DSDT, 116, 1);
    put_le(t, F_FLAGS, 1u << 10, 4);  // RESET_REG_SUP, but the register is not in the table
    FadtCase c(t);
    EXPECT_TRUE(c.f().present);
    EXPECT_EQ(c.f().pm1a_cnt.address, 0x604u);
    EXPECT_EQ(c.f().pm1a_cnt.space, pv::AcpiGas::SPACE_IO);
    EXPECT_EQ(c.f().dsdt, Machine::DSDT);
    EXPECT_FALSE(c.f().reset_supported);
    EXPECT_EQ(c.f().iapc_boot_arch, 0);  // boot flags untrusted in FADTs this short
    EXPECT_EQ(c.f().century, 0x32);
    EXPECT_FALSE(c.f().sleep_control.present());
    EXPECT_TRUE(c.m.info->s5_valid);
    EXPECT_TRUE(has_diag(c.m.diag, "RESET_REG_SUP set but the table (116 bytes)"));
}

TEST(AcpiFadt, TooShortIsSkipped) {
    FadtCase c(fadt_base(Machine::DSDT, 115, 1));
    EXPECT_FALSE(c.f().present);
    EXPECT_FALSE(c.m.info->s5_valid);
    EXPECT_TRUE(has_diag(c.m.diag, "too short for a FADT"));
}

TEST(AcpiFadt, ResetRegister) {
    Blob t = fadt_base(Machine::DSDT, 129, 2);
    put_le(t, F_FLAGS, 1u << 10, 4);
    put_gas(t, F_RESET_REG, 1, 8, 0xcf9);
    t[F_RESET_VALUE] = 0x06;
    FadtCase c(t);
    ASSERT_TRUE(c.f().reset_supported);
    EXPECT_EQ(c.f().reset_reg.space, pv::AcpiGas::SPACE_IO);
    EXPECT_EQ(c.f().reset_reg.address, 0xcf9u);
    EXPECT_EQ(c.f().reset_reg.bit_width, 8);
    EXPECT_EQ(c.f().reset_value, 6);
}

TEST(AcpiFadt, ResetRegisterIgnoredWithoutFlag) {
    Blob t = fadt_base(Machine::DSDT);
    put_gas(t, F_RESET_REG, 1, 8, 0xcf9);
    t[F_RESET_VALUE] = 0x06;
    FadtCase c(t);
    EXPECT_FALSE(c.f().reset_supported);
}

TEST(AcpiFadt, ExtendedBlocksAndXDsdtPreferred) {
    Blob t = fadt_base(0x1000);
    put_le(t, F_X_DSDT, Machine::DSDT, 8);
    put_gas(t, F_X_PM1A_CNT, 1, 16, 0xb004);
    put_gas(t, F_X_PM1B_CNT, 1, 16, 0xb104);
    put_gas(t, F_X_PM1A_EVT, 0, 32, 0xfe000000);
    put_le(t, F_PM1B_EVT, 0x700, 4);
    t[F_MINOR] = 5;
    FadtCase c(t);
    EXPECT_EQ(c.f().dsdt, Machine::DSDT);
    EXPECT_EQ(c.f().minor_revision, 5);
    EXPECT_EQ(c.f().pm1a_cnt.address, 0xb004u);
    EXPECT_EQ(c.f().pm1b_cnt.address, 0xb104u);
    EXPECT_EQ(c.f().pm1a_evt.space, pv::AcpiGas::SPACE_MEMORY);
    EXPECT_EQ(c.f().pm1a_evt.address, 0xfe000000u);
    EXPECT_EQ(c.f().pm1b_evt.address, 0x700u);  // X_ block empty: legacy port used
    EXPECT_EQ(c.f().pm1b_evt.bit_width, 32);
    EXPECT_TRUE(c.m.info->s5_valid);
    EXPECT_TRUE(has_diag(c.m.diag, "DSDT 0x1000 and X_DSDT 0x7fe5000 differ"));
}

TEST(AcpiFadt, XFieldsBeyondTheLengthIgnored) {
    Blob t = fadt_base(Machine::DSDT, F_END);
    put_gas(t, F_X_PM1A_CNT, 1, 16, 0xb004);
    t.resize(F_X_PM1A_CNT + 6);  // X_PM1a_CNT_BLK cut in half
    FadtCase c(t);
    EXPECT_EQ(c.f().pm1a_cnt.address, 0x604u);
}

TEST(AcpiFadt, HardwareReduced) {
    Blob t = fadt_base(Machine::DSDT);
    put_le(t, F_FLAGS, 1u << 20, 4);
    put_le(t, F_PM1A_CNT, 0, 4);
    put_le(t, F_PM1A_EVT, 0, 4);
    put_gas(t, F_SLEEP_CONTROL, 1, 8, 0x404);
    put_gas(t, F_SLEEP_STATUS, 1, 8, 0x400);
    FadtCase c(t);
    EXPECT_TRUE(c.f().hw_reduced);
    EXPECT_FALSE(c.f().pm1a_cnt.present());
    EXPECT_EQ(c.f().sleep_control.address, 0x404u);
    EXPECT_EQ(c.f().sleep_status.address, 0x400u);
}

// ---------------------------------------------------------------------------------------------
// \_S5 AML

bool s5(const Blob& aml, uint8_t* a, uint8_t* b) { return pv::acpi_find_s5(aml.data(), aml.size(), a, b); }

TEST(AcpiS5, IntegerEncodings) {
    struct Case {
        Blob enc;
        uint8_t value;
    };
    const Case cases[] = {
        {{0x00}, 0},
        {{0x01}, 1},
        {{0xff}, 0xff},
        {{0x0a, 0x05}, 5},
        {{0x0b, 0x07, 0x00}, 7},
        {{0x0b, 0x03, 0x12}, 3},  // only the low byte matters
        {{0x0c, 0x06, 0x00, 0x00, 0x00}, 6},
        {{0x0e, 0x02, 0, 0, 0, 0, 0, 0, 0}, 2},
    };
    for (const Case& x : cases) {
        for (const Case& y : cases) {
            Blob el = x.enc;
            append(el, y.enc);
            Blob aml = s5_name(el, 2);
            uint8_t a = 0x55, b = 0x55;
            ASSERT_TRUE(s5(aml, &a, &b)) << int(x.enc[0]) << " " << int(y.enc[0]);
            EXPECT_EQ(a, x.value);
            EXPECT_EQ(b, y.value);
            // The same with the root prefix, and with a package declared longer than given.
            a = b = 0x55;
            ASSERT_TRUE(s5(s5_name(el, 4, 1, 0, true), &a, &b));
            EXPECT_EQ(a, x.value);
            EXPECT_EQ(b, y.value);
        }
    }
}

TEST(AcpiS5, QemuPackage) {
    uint8_t a = 9, b = 9;
    Blob aml{0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00};
    ASSERT_TRUE(s5(aml, &a, &b));
    EXPECT_EQ(a, 0);
    EXPECT_EQ(b, 0);
}

TEST(AcpiS5, OneElementPacksBothValues) {
    uint8_t a = 0, b = 0;
    ASSERT_TRUE(s5(s5_name({0x0b, 0x05, 0x07}, 1), &a, &b));
    EXPECT_EQ(a, 5);
    EXPECT_EQ(b, 7);
}

TEST(AcpiS5, MultiBytePkgLength) {
    for (size_t nbytes = 1; nbytes <= 4; ++nbytes) {
        for (size_t pad : {size_t{0}, size_t{60}, size_t{5000}}) {
            if (nbytes == 1 && pad > 50) continue;
            uint8_t a = 0, b = 0;
            Blob aml = s5_name({0x0a, 0x03, 0x0a, 0x04}, 8, nbytes, pad);
            append(aml, {0x5b, 0x82});  // something after the package
            ASSERT_TRUE(s5(aml, &a, &b)) << nbytes << " " << pad;
            EXPECT_EQ(a, 3);
            EXPECT_EQ(b, 4);
        }
    }
}

TEST(AcpiS5, PkgLengthRunningOffTheEnd) {
    Blob aml = s5_name({0x0a, 0x03, 0x0a, 0x04}, 2);
    aml[6] = 0x3f;  // 63 bytes claimed, 6 present
    uint8_t a, b;
    EXPECT_FALSE(s5(aml, &a, &b));
    Blob big = s5_name({0x00, 0x00}, 2, 4);
    big[7] = 0xff;  // lead byte says 3 follow; make them huge
    big[8] = big[9] = 0xff;
    EXPECT_FALSE(s5(big, &a, &b));
    // PkgLength bytes themselves cut off.
    Blob cut{0x08, '_', 'S', '5', '_', 0x12, 0xc0, 0x01};
    EXPECT_FALSE(s5(cut, &a, &b));
}

TEST(AcpiS5, PkgLengthTooSmallForItsContents) {
    uint8_t a, b;
    EXPECT_FALSE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x01, 0x02, 0x00, 0x00}, &a, &b));
    EXPECT_FALSE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x02, 0x02, 0x00, 0x00}, &a, &b));  // 2nd elt outside
    EXPECT_FALSE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x03, 0x02, 0x0a, 0x01}, &a, &b));  // BytePrefix cut
    EXPECT_FALSE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x00}, &a, &b));
}

TEST(AcpiS5, EveryTruncationFailsCleanly) {
    Blob full = s5_name({0x0c, 1, 0, 0, 0, 0x0e, 2, 0, 0, 0, 0, 0, 0, 0}, 2, 2);
    uint8_t a, b;
    ASSERT_TRUE(s5(full, &a, &b));
    for (size_t n = 0; n < full.size(); ++n) {
        // A separate allocation of exactly n bytes, so ASan flags any read past it.
        std::unique_ptr<uint8_t[]> p(new uint8_t[n ? n : 1]);
        std::memcpy(p.get(), full.data(), n);
        EXPECT_FALSE(pv::acpi_find_s5(p.get(), n, &a, &b)) << n;
    }
}

TEST(AcpiS5, NotTheNameObject) {
    uint8_t a, b;
    // A method called _S5_, a reference to _S5_, a name whose package holds a string.
    EXPECT_FALSE(s5({0x14, 0x08, '_', 'S', '5', '_', 0x00, 0xa4, 0x00}, &a, &b));
    EXPECT_FALSE(s5({0x70, '_', 'S', '5', '_', 0x60}, &a, &b));
    EXPECT_FALSE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0d, 'x', 0x00}, &a, &b));
    EXPECT_FALSE(s5({0x08, '_', 'S', '5', '_', 0x0a, 0x05}, &a, &b));
    // After all of those, a real one is still found.
    Blob aml{0x14, 0x08, '_', 'S', '5', '_', 0x00, 0xa4, 0x00, 0x08, '_', 'S', '5', '_', 0x0a, 0x05};
    append(aml, s5_name({0x01, 0x0a, 0x02}, 2, 1, 0, true));
    ASSERT_TRUE(s5(aml, &a, &b));
    EXPECT_EQ(a, 1);
    EXPECT_EQ(b, 2);
    EXPECT_FALSE(s5({}, &a, &b));
    EXPECT_FALSE(pv::acpi_find_s5(nullptr, 0, &a, &b));
}

// ---------------------------------------------------------------------------------------------
// Real tables: what SeaBIOS under QEMU 7.2 builds for `-machine q35 -smp 4` and `-machine pc
// -smp 4` (dumped from guest memory with the monitor's pmemsave), placed at their original
// addresses.  Unaligned table addresses and a 116-byte ACPI 1.0 FADT are what real firmware
// looks like.  The DSDTs (6-8 KiB) are replaced by a stand-in holding QEMU's own \_S5 bytes.

Blob hex(const char* s) {
    Blob b;
    for (; s[0] && s[1]; s += 2) b.push_back(static_cast<uint8_t>(std::stoi(std::string(s, 2), nullptr, 16)));
    return b;
}

const char* const QEMU_APIC =
    "4150494390000000014b424f4348532042585043202020200100000042585043010000000000e0fe0100000000080000"
    "01000000000801010100000000080202010000000008030301000000010c00000000c0fe00000000020a000002000000"
    "0000020a0005050000000d00020a0009090000000d00020a000a0a0000000d00020a000b0b0000000d000406ff000001";
const char* const QEMU_HPET =
    "485045543800000001b4424f43485320425850432020202001000000425850430100000001a28680000000000000d0fe"
    "0000000000000000";
const char* const QEMU_WAET =
    "57414554280000000139424f43485320425850432020202001000000425850430100000002000000";
// DSDT bytes around QEMU's Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero }).
const char* const QEMU_S5_AML = "040a020a020000085f53355f12060400000000103b5c2e5f";

void put_qemu_common(FakePhys& mem) {
    Blob aml = hex(QEMU_S5_AML);
    mem.put(0x3fe0040, sdt("DSDT", 1, aml));
}

TEST(AcpiQemu, Q35) {
    FakePhys mem;
    Blob bios(0x20000, 0);
    Blob rsdp = hex("5253442050545220db424f43485320005323fe03");
    std::memcpy(&bios[0xf59e0 - BIOS_AREA], rsdp.data(), rsdp.size());
    mem.put(BIOS_AREA, bios);
    mem.put(0x3fe2353, hex("52534454380000000145424f4348532042585043202020200100000042585043010000003321fe032722fe03"
                           "b722fe03ef22fe032b23fe03"));
    mem.put(0x3fe2133,
            hex("46414350f40000000334424f4348532042585043202020200100000042585043010000000000fe034000fe030100"
                "0900b20000000203000000060000000000000406000000000000000000000806000020060000000000000402000410"
                "000000ff0fff0f000000000000000032020000a584000001080000f90c0000000000000f0000000000000000000000"
                "4000fe0300000000012000000006000000000000000000000000000000000000011000000406000000000000000000"
                "000000000000000000000000000000000000000000000000012000000806000000000000018000002006000000000000"
                "000000000000000000000000"));
    mem.put(0x3fe2227, hex(QEMU_APIC));
    mem.put(0x3fe22b7, hex(QEMU_HPET));
    mem.put(0x3fe22ef, hex("4d4346473c000000018c424f434853204258504320202020010000004258504301000000000000000000000000"
                           "0000b000000000000000ff00000000"));
    mem.put(0x3fe232b, hex(QEMU_WAET));
    put_qemu_common(mem);

    auto info = std::make_unique<AcpiInfo>();
    Diagnostics d;
    ASSERT_TRUE(pv::acpi_parse(mem, nullptr, 0, *info, d).ok()) << all_diags(d);
    EXPECT_EQ(d.count(), 0u) << all_diags(d);
    EXPECT_EQ(info->revision, 0);
    EXPECT_STREQ(info->oem_id, "BOCHS ");
    EXPECT_EQ(info->rsdp_address, 0xf59e0u);
    EXPECT_FALSE(info->xsdt_used);
    EXPECT_EQ(info->table_count, 5u);
    ASSERT_EQ(info->cpu_count, 4u);
    for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(info->cpus[i].apic_id, i);
    EXPECT_EQ(info->lapic_base, 0xfee00000u);
    ASSERT_EQ(info->ioapic_count, 1u);
    EXPECT_EQ(info->ioapics[0].address, 0xfec00000u);
    ASSERT_EQ(info->override_count, 5u);
    EXPECT_EQ(info->overrides[0].source, 0);
    EXPECT_EQ(info->overrides[0].gsi, 2u);
    EXPECT_EQ(info->overrides[4].source, 11);
    EXPECT_EQ(info->overrides[4].flags, 0xd);  // level, active high
    EXPECT_EQ(info->lapic_nmi_count, 1u);
    const pv::AcpiFadt& f = info->fadt;
    EXPECT_EQ(f.revision, 3);
    EXPECT_EQ(f.sci_irq, 9);
    EXPECT_EQ(f.pm1a_cnt.address, 0x604u);
    EXPECT_EQ(f.pm1a_evt.address, 0x600u);
    ASSERT_TRUE(f.reset_supported);
    EXPECT_EQ(f.reset_reg.space, pv::AcpiGas::SPACE_IO);
    EXPECT_EQ(f.reset_reg.address, 0xcf9u);
    EXPECT_EQ(f.reset_value, 0x0f);
    EXPECT_EQ(f.dsdt, 0x3fe0040u);
    EXPECT_EQ(f.iapc_boot_arch, pv::AcpiFadt::BOOT_8042);
    EXPECT_EQ(info->hpet_base, 0xfed00000u);
    EXPECT_TRUE(info->s5_valid);
    EXPECT_EQ(info->slp_typa, 0);
}

TEST(AcpiQemu, PcHasAnAcpi1Fadt) {
    FakePhys mem;
    Blob rsdp = hex("5253442050545220d6424f4348532000601bfe03");
    mem.put(0x3fe1b60, hex("52534454340000000112424f434853204258504320202020010000004258504301000000fc19fe03701afe03"
                           "001bfe03381bfe03"));
    mem.put(0x3fe19fc,
            hex("464143507400000001f9424f4348532042585043202020200100000042585043010000000000fe034000fe030100"
                "0900b2000000f1f00000000600000000000004060000000000000000000008060000e0af00000000000004020004"
                "04000000ff0fff0f000000000000000032000000a5800000"));
    mem.put(0x3fe1a70, hex(QEMU_APIC));
    mem.put(0x3fe1b00, hex(QEMU_HPET));
    mem.put(0x3fe1b38, hex(QEMU_WAET));
    put_qemu_common(mem);

    auto info = std::make_unique<AcpiInfo>();
    Diagnostics d;
    ASSERT_TRUE(pv::acpi_parse(mem, rsdp.data(), rsdp.size(), *info, d).ok()) << all_diags(d);
    EXPECT_EQ(d.count(), 0u) << all_diags(d);
    EXPECT_EQ(info->cpu_count, 4u);
    EXPECT_EQ(info->fadt.revision, 1);
    EXPECT_EQ(info->fadt.pm1a_cnt.address, 0x604u);
    EXPECT_EQ(info->fadt.pm1a_cnt.bit_width, 16);
    EXPECT_FALSE(info->fadt.reset_supported);  // 116 bytes: no room for one
    EXPECT_TRUE(info->s5_valid);
    EXPECT_EQ(info->slp_typa, 0);
    EXPECT_EQ(info->slp_typb, 0);
}

// ---------------------------------------------------------------------------------------------
// Robustness: random corruption of valid tables, with checksums refreshed so the corruption
// reaches the decoders instead of being stopped at validation.  ASan/UBSan catch any stray read.

uint32_t xorshift(uint32_t& s) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
}

TEST(AcpiFuzz, CorruptedTablesNeverEscapeTheirBounds) {
    uint32_t seed = 0x12345678;
    for (size_t iter = 0; iter < 3000; ++iter) {
        Machine m;
        m.standard();
        uint64_t which = std::array<uint64_t, 4>{Machine::MADT, Machine::FADT, Machine::DSDT, Machine::XSDT}[iter % 4];
        Blob t(static_cast<const uint8_t*>(m.mem.map(which, 36)),
               static_cast<const uint8_t*>(m.mem.map(which, 36)) + 36);
        uint32_t len = uint32_t{t[4]} | uint32_t{t[5]} << 8 | uint32_t{t[6]} << 16 | uint32_t{t[7]} << 24;
        t.assign(static_cast<const uint8_t*>(m.mem.map(which, len)),
                 static_cast<const uint8_t*>(m.mem.map(which, len)) + len);
        uint32_t flips = 1 + xorshift(seed) % 8;
        for (uint32_t k = 0; k < flips; ++k) {
            size_t pos = 36 + xorshift(seed) % (t.size() - 36);
            t[pos] = static_cast<uint8_t>(xorshift(seed));
        }
        if (xorshift(seed) % 4 == 0) t.resize(36 + xorshift(seed) % (t.size() - 36));
        finish(t);
        m.replace(which, t);
        (void)m.parse();
        EXPECT_LE(m.info->cpu_count, AcpiInfo::MAX_CPUS);
        EXPECT_LE(m.diag.count(), Diagnostics::CAPACITY);
    }
}

TEST(AcpiFuzz, RandomAml) {
    uint32_t seed = 0xdecafbad;
    // The bytes that matter to the decoder: NameOp, the name, PackageOp, integer prefixes and
    // PkgLength lead bytes of every size.
    const uint8_t alphabet[] = {0x08, '_', 'S', '5', '\\', 0x12, 0x00, 0x01,
                                0xff, 0x0a, 0x0b, 0x0c, 0x0e, 0x40, 0x80, 0xc0};
    for (int iter = 0; iter < 20000; ++iter) {
        size_t n = xorshift(seed) % 24;
        std::unique_ptr<uint8_t[]> p(new uint8_t[n ? n : 1]);
        for (size_t i = 0; i < n; ++i) p[i] = alphabet[xorshift(seed) % sizeof alphabet];
        uint8_t a, b;
        (void)pv::acpi_find_s5(p.get(), n, &a, &b);
    }
}

// ---------------------------------------------------------------------------------------------

TEST(Diagnostics, BoundedAndCounted) {
    Diagnostics d;
    for (int i = 0; i < 40; ++i) d.warn("message %d %s", i, std::string(200, 'x').c_str());
    EXPECT_EQ(d.count(), Diagnostics::CAPACITY);
    EXPECT_EQ(d.dropped(), 40 - Diagnostics::CAPACITY);
    EXPECT_EQ(std::string(d.message(0)).substr(0, 10), "message 0 ");
    EXPECT_EQ(std::strlen(d.message(31)), pv::Diagnostic::MESSAGE_LEN - 1);
    EXPECT_STREQ(d.message(99), "");
}

TEST(AcpiParse, UnprintableSignaturesAndOemIdsAreSanitised) {
    Machine m;
    m.standard();
    m.rsdp[9] = 0x01;
    m.rsdp[8] = 0;
    m.rsdp[8] = static_cast<uint8_t>(-sum(m.rsdp.data(), 20));
    m.rsdp[32] = 0;
    m.rsdp[32] = static_cast<uint8_t>(-sum(m.rsdp.data(), 36));
    m.replace(Machine::EXTRA, sdt("\x01Z\n\x7f", 1, {}));
    m.replace(Machine::XSDT, make_xsdt({Machine::EXTRA, Machine::FADT}));
    ASSERT_TRUE(m.parse().ok()) << all_diags(m.diag);
    EXPECT_STREQ(m.info->oem_id, "?OCHS ");
    ASSERT_EQ(m.info->table_count, 2u);
    EXPECT_STREQ(m.info->tables[0].signature, "?Z??");
}

}  // namespace
