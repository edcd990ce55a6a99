#include "core/bootinfo.hpp"
#include "core/cmdline.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using pv::BootInfo;
using pv::Diagnostics;
using pv::MemoryRange;
using pv::Severity;
using pv::u32;
using pv::u64;
using pv::u8;
namespace mb1 = pv::multiboot1;
namespace mb2 = pv::multiboot2;

// Physical memory [base, base + size).  Every map() hands out a fresh heap copy of exactly the
// bytes asked for, so AddressSanitizer catches a parser reading past what it mapped.
class FakePhys final : public pv::PhysMemory {
public:
    FakePhys(u64 base, size_t size) : base_(base), bytes_(size, 0) {}
    virtual ~FakePhys() = default;

    const void* map(u64 pa, pv::usize len) const override {
        ++maps;
        if (len == 0 || pa < base_ || pa - base_ > bytes_.size() ||
            len > bytes_.size() - (pa - base_)) {
            ++refused;
            return nullptr;
        }
        auto copy = std::make_unique<u8[]>(len);
        std::memcpy(copy.get(), bytes_.data() + (pa - base_), len);
        copies_.push_back(std::move(copy));
        return copies_.back().get();
    }

    void put(u64 pa, const void* p, size_t n) {
        ASSERT_GE(pa, base_);
        ASSERT_LE(pa - base_ + n, bytes_.size());
        std::memcpy(bytes_.data() + (pa - base_), p, n);
    }
    void put32(u64 pa, u32 v) { put(pa, &v, 4); }
    void put64(u64 pa, u64 v) { put(pa, &v, 8); }
    void put_str(u64 pa, const std::string& s) { put(pa, s.c_str(), s.size() + 1); }
    void fill(u64 pa, size_t n, u8 v) {
        ASSERT_LE(pa - base_ + n, bytes_.size());
        std::memset(bytes_.data() + (pa - base_), v, n);
    }
    u64 base() const { return base_; }
    u64 end() const { return base_ + bytes_.size(); }

    mutable size_t maps = 0;
    mutable size_t refused = 0;

private:
    u64 base_;
    std::vector<u8> bytes_;
    mutable std::vector<std::unique_ptr<u8[]>> copies_;
};

struct Out {
    BootInfo bi;
    Diagnostics d;

    std::vector<std::string> messages() const {
        std::vector<std::string> v;
        for (size_t i = 0; i < d.count(); ++i) v.emplace_back(d[i].message);
        return v;
    }
    std::string only(Severity s) const {
        EXPECT_EQ(d.count(), 1u) << ::testing::PrintToString(messages());
        if (d.count() == 0) return "";
        EXPECT_EQ(d[0].severity, s);
        return d[0].message;
    }
};

constexpr u64 BASE = 0x100000;
constexpr size_t SIZE = 0x10000;

struct Range {
    u64 base, length;
    u32 type;
};
struct Mod {
    u32 start, end;
    std::string cmdline;
};

// ---------------------------------------------------------------------------------------------
// Multiboot 1 structures, laid out in fake memory at fixed places.

struct Mb1 {
    static constexpr u64 INFO = BASE, CMDLINE = BASE + 0x1000, LOADER = BASE + 0x1800,
                         MODS = BASE + 0x2000, STRINGS = BASE + 0x3000, MMAP = BASE + 0x6000;
    FakePhys mem{BASE, SIZE};
    u32 flags = 0;

    void field(size_t off, u32 v) { mem.put32(INFO + off, v); }
    void meminfo(u32 lo, u32 hi) {
        flags |= mb1::INFO_MEMORY;
        field(mb1::OFF_MEM_LOWER, lo);
        field(mb1::OFF_MEM_UPPER, hi);
    }
    void cmdline(const std::string& s) {
        flags |= mb1::INFO_CMDLINE;
        mem.put_str(CMDLINE, s);
        field(mb1::OFF_CMDLINE, CMDLINE);
    }
    void loader(const std::string& s) {
        flags |= mb1::INFO_LOADER_NAME;
        mem.put_str(LOADER, s);
        field(mb1::OFF_LOADER_NAME, LOADER);
    }
    void modules(const std::vector<Mod>& mods, u32 count_override = 0) {
        flags |= mb1::INFO_MODS;
        u64 str = STRINGS;
        for (size_t i = 0; i < mods.size(); ++i) {
            u64 e = MODS + i * mb1::MODULE_SIZE;
            mem.put32(e, mods[i].start);
            mem.put32(e + 4, mods[i].end);
            mem.put32(e + 8, mods[i].cmdline.empty() ? 0 : static_cast<u32>(str));
            if (!mods[i].cmdline.empty()) {
                mem.put_str(str, mods[i].cmdline);
                str += mods[i].cmdline.size() + 1;
            }
        }
        field(mb1::OFF_MODS_COUNT, count_override ? count_override : static_cast<u32>(mods.size()));
        field(mb1::OFF_MODS_ADDR, MODS);
    }
    // Entries with the given size field (20 is what every loader writes).
    void mmap(const std::vector<Range>& ranges, u32 size_field = 20, u32 length_override = 0) {
        flags |= mb1::INFO_MEM_MAP;
        u64 at = MMAP;
        for (const auto& r : ranges) {
            mem.put32(at, size_field);
            mem.put64(at + 4, r.base);
            mem.put64(at + 12, r.length);
            mem.put32(at + 20, r.type);
            at += 4 + size_field;
        }
        field(mb1::OFF_MMAP_LENGTH,
              length_override ? length_override : static_cast<u32>(at - MMAP));
        field(mb1::OFF_MMAP_ADDR, MMAP);
    }

    std::unique_ptr<Out> parse(bool expect_ok = true) {
        field(mb1::OFF_FLAGS, flags);
        auto o = std::make_unique<Out>();
        auto r = pv::parse_bootinfo(mb1::BOOTLOADER_MAGIC, INFO, mem, o->bi, o->d);
        EXPECT_EQ(r.ok(), expect_ok) << ::testing::PrintToString(o->messages());
        return o;
    }
};

TEST(BootInfoMb1, FullStructure) {
    Mb1 m;
    m.meminfo(639, 130048);
    m.cmdline("/boot/pvisor.elf console=com1 loglvl=all");
    m.loader("qemu");
    m.modules({{0x200000, 0x600000, "vmlinuz root=/dev/vda"}, {0x600000, 0x700000, "initrd.img"}});
    m.mmap({{0, 0x9fc00, MemoryRange::AVAILABLE},
            {0x9fc00, 0x400, MemoryRange::RESERVED},
            {0x100000, 0x7ee0000, MemoryRange::AVAILABLE},
            {0xfffc0000, 0x40000, MemoryRange::RESERVED}});
    auto o = m.parse();
    EXPECT_EQ(o->d.count(), 0u) << ::testing::PrintToString(o->messages());
    const BootInfo& bi = o->bi;
    EXPECT_EQ(bi.protocol, pv::BootProtocol::multiboot1);
    EXPECT_TRUE(bi.has_basic_meminfo);
    EXPECT_EQ(bi.mem_lower_kib, 639u);
    EXPECT_EQ(bi.mem_upper_kib, 130048u);
    EXPECT_STREQ(bi.cmdline, "/boot/pvisor.elf console=com1 loglvl=all");
    EXPECT_STREQ(bi.loader_name, "qemu");
    ASSERT_EQ(bi.module_count, 2u);
    EXPECT_EQ(bi.modules[0].start, 0x200000u);
    EXPECT_EQ(bi.modules[0].end, 0x600000u);
    EXPECT_EQ(bi.modules[0].size(), 0x400000u);
    EXPECT_STREQ(bi.modules[0].cmdline, "vmlinuz root=/dev/vda");
    EXPECT_STREQ(bi.modules[1].cmdline, "initrd.img");
    ASSERT_EQ(bi.memory_map_count, 4u);
    EXPECT_EQ(bi.memory_map[2].base, 0x100000u);
    EXPECT_EQ(bi.memory_map[2].length, 0x7ee0000u);
    EXPECT_EQ(bi.memory_map[2].type, MemoryRange::AVAILABLE);
    EXPECT_EQ(bi.memory_map[3].type, MemoryRange::RESERVED);
    EXPECT_EQ(bi.rsdp_len, 0u);
}

TEST(BootInfoMb1, FlagsGateFields) {
    Mb1 m;
    m.cmdline("ignored");
    m.loader("ignored");
    m.flags = 0;  // the fields are there but the loader does not vouch for them
    auto o = m.parse();
    EXPECT_EQ(o->d.count(), 0u);
    EXPECT_STREQ(o->bi.cmdline, "");
    EXPECT_STREQ(o->bi.loader_name, "");
    EXPECT_FALSE(o->bi.has_basic_meminfo);
    EXPECT_EQ(o->bi.module_count, 0u);
}

TEST(BootInfoMb1, ResetsOutput) {
    Mb1 m;
    auto o = std::make_unique<Out>();
    o->bi.module_count = 7;
    o->bi.cmdline[0] = 'x';
    o->bi.rsdp_len = 36;
    m.field(mb1::OFF_FLAGS, 0);
    ASSERT_TRUE(pv::parse_bootinfo(mb1::BOOTLOADER_MAGIC, Mb1::INFO, m.mem, o->bi, o->d).ok());
    EXPECT_EQ(o->bi.module_count, 0u);
    EXPECT_STREQ(o->bi.cmdline, "");
    EXPECT_EQ(o->bi.rsdp_len, 0u);
}

TEST(BootInfoMb1, UnknownMagic) {
    Mb1 m;
    auto o = std::make_unique<Out>();
    auto r = pv::parse_bootinfo(0x1BADB002, Mb1::INFO, m.mem, o->bi, o->d);  // the header magic
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), XEN_EINVAL);
    EXPECT_EQ(o->only(Severity::error), "unknown boot loader magic 0x1badb002");
    EXPECT_EQ(o->bi.protocol, pv::BootProtocol::none);
}

TEST(BootInfoMb1, InfoUnreadable) {
    Mb1 m;
    auto o = std::make_unique<Out>();
    auto r = pv::parse_bootinfo(mb1::BOOTLOADER_MAGIC, 0x5000, m.mem, o->bi, o->d);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), XEN_EFAULT);
    EXPECT_EQ(o->only(Severity::error), "multiboot1: information at 0x5000 unreadable");
}

TEST(BootInfoMb1, OnlyTheFieldsTheFlagsNeedAreRead) {
    // flags + mem_lower + mem_upper in the last 12 bytes of memory: enough for INFO_MEMORY.
    FakePhys mem(BASE, SIZE);
    u64 info = mem.end() - 12;
    mem.put32(info, mb1::INFO_MEMORY);
    mem.put32(info + 4, 640);
    mem.put32(info + 8, 1024);
    auto o = std::make_unique<Out>();
    ASSERT_TRUE(pv::parse_bootinfo(mb1::BOOTLOADER_MAGIC, info, mem, o->bi, o->d).ok());
    EXPECT_EQ(o->bi.mem_upper_kib, 1024u);

    // The same place with a flag whose field lies past the end of memory.
    mem.put32(info, mb1::INFO_MEMORY | mb1::INFO_LOADER_NAME);
    auto p = std::make_unique<Out>();
    auto r = pv::parse_bootinfo(mb1::BOOTLOADER_MAGIC, info, mem, p->bi, p->d);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), XEN_EFAULT);
    EXPECT_TRUE(p->d.contains("(68 bytes) unreadable"));
}

TEST(BootInfoMb1, NullStringPointersMeanNoString) {
    Mb1 m;
    m.flags = mb1::INFO_CMDLINE | mb1::INFO_LOADER_NAME;  // both pointers left 0
    auto o = m.parse();
    EXPECT_EQ(o->d.count(), 0u);
    EXPECT_STREQ(o->bi.cmdline, "");
}

TEST(BootInfoMb1, LongCommandLineTruncated) {
    Mb1 m;
    std::string line(3000, 'a');
    m.cmdline(line);
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::warning), "multiboot1: command line truncated to 1023 characters");
    EXPECT_EQ(std::string(o->bi.cmdline), line.substr(0, BootInfo::CMDLINE_LEN - 1));
}

TEST(BootInfoMb1, CommandLineExactlyFits) {
    Mb1 m;
    std::string line(BootInfo::CMDLINE_LEN - 1, 'b');
    m.cmdline(line);
    auto o = m.parse();
    EXPECT_EQ(o->d.count(), 0u);
    EXPECT_EQ(std::string(o->bi.cmdline), line);
}

TEST(BootInfoMb1, UnterminatedStringRunningOffMemory) {
    Mb1 m;
    m.flags |= mb1::INFO_CMDLINE;
    u64 at = m.mem.end() - 100;
    m.mem.fill(at, 100, 'x');  // no NUL before memory ends
    m.field(mb1::OFF_CMDLINE, static_cast<u32>(at));
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error), "multiboot1: command line unreadable, ignored");
    EXPECT_STREQ(o->bi.cmdline, "");
}

TEST(BootInfoMb1, ShortStringJustBelowUnreadableMemory) {
    // Mapping a whole buffer's worth would fail here; the page-wise reader must not need to.
    Mb1 m;
    m.flags |= mb1::INFO_LOADER_NAME;
    u64 at = m.mem.end() - 5;
    m.mem.put_str(at, "qemu");
    m.field(mb1::OFF_LOADER_NAME, static_cast<u32>(at));
    auto o = m.parse();
    EXPECT_EQ(o->d.count(), 0u) << ::testing::PrintToString(o->messages());
    EXPECT_STREQ(o->bi.loader_name, "qemu");
}

TEST(BootInfoMb1, StringAcrossPages) {
    Mb1 m;
    m.flags |= mb1::INFO_CMDLINE;
    u64 at = BASE + 0x5000 - 7;
    m.mem.put_str(at, "console=com1 noreboot");
    m.field(mb1::OFF_CMDLINE, static_cast<u32>(at));
    auto o = m.parse();
    EXPECT_EQ(o->d.count(), 0u);
    EXPECT_STREQ(o->bi.cmdline, "console=com1 noreboot");
}

TEST(BootInfoMb1, StringPointerOutsideMemory) {
    Mb1 m;
    m.flags |= mb1::INFO_CMDLINE;
    m.field(mb1::OFF_CMDLINE, 0xfffffff0);
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error), "multiboot1: command line unreadable, ignored");
}

TEST(BootInfoMb1, ModuleEndingBeforeStart) {
    Mb1 m;
    m.modules(
        {{0x300000, 0x200000, "bad"}, {0x400000, 0x400000, "empty"}, {0x500000, 0x501000, ""}});
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot1: module 0 ends (0x200000) before it starts (0x300000), ignored");
    ASSERT_EQ(o->bi.module_count, 2u);
    EXPECT_STREQ(o->bi.modules[0].cmdline, "empty");  // zero-sized modules are allowed
    EXPECT_EQ(o->bi.modules[0].size(), 0u);
    EXPECT_STREQ(o->bi.modules[1].cmdline, "");
    EXPECT_EQ(o->bi.modules[1].size(), 0x1000u);
}

TEST(BootInfoMb1, TooManyModules) {
    Mb1 m;
    std::vector<Mod> mods;
    for (u32 i = 0; i < 40; ++i)
        mods.push_back({0x200000 + i * 0x1000, 0x201000 + i * 0x1000, "m" + std::to_string(i)});
    m.modules(mods);
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error), "multiboot1: 40 modules, only the first 32 used");
    ASSERT_EQ(o->bi.module_count, BootInfo::MAX_MODULES);
    EXPECT_STREQ(o->bi.modules[31].cmdline, "m31");
}

TEST(BootInfoMb1, HugeModuleCountDoesNotOverflow) {
    // 0x10000001 * 16 wraps to 16 in 32 bits; the parser must not be fooled into one entry,
    // nor walk 268 million of them.
    Mb1 m;
    m.modules({{0x200000, 0x300000, "a"}}, 0x10000001);
    size_t before = m.mem.maps;
    auto o = m.parse();
    EXPECT_TRUE(o->d.contains("268435457 modules, only the first 32 used"));
    EXPECT_EQ(o->bi.module_count, 32u);  // the rest of the array is zeroes: empty modules at 0
    EXPECT_LT(m.mem.maps - before, 200u);
}

TEST(BootInfoMb1, ModuleArrayRunningOffMemory) {
    Mb1 m;
    m.flags |= mb1::INFO_MODS;
    u64 at = m.mem.end() - 24;  // room for one and a half entries
    m.mem.put32(at, 0x200000);
    m.mem.put32(at + 4, 0x201000);
    m.field(mb1::OFF_MODS_COUNT, 3);
    m.field(mb1::OFF_MODS_ADDR, static_cast<u32>(at));
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot1: module 1 entry at 0x10fff8 unreadable, 1 of 3 used");
    EXPECT_EQ(o->bi.module_count, 1u);
}

TEST(BootInfoMb1, ModuleCmdlineTruncated) {
    Mb1 m;
    m.modules({{0x200000, 0x300000, std::string(700, 'k')}});
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::warning),
              "multiboot1: module 0 command line truncated to 511 characters");
    EXPECT_EQ(std::string(o->bi.modules[0].cmdline), std::string(511, 'k'));
}

TEST(BootInfoMb1, MemoryMapWithLargerEntries) {
    // A size field above 20 means extra fields; entries are stepped over by size + 4.
    Mb1 m;
    m.mmap({{0, 0xa0000, 1}, {0x100000, 0x1000000, 1}, {0xfee00000, 0x1000, 2}}, 28);
    auto o = m.parse();
    EXPECT_EQ(o->d.count(), 0u);
    ASSERT_EQ(o->bi.memory_map_count, 3u);
    EXPECT_EQ(o->bi.memory_map[1].base, 0x100000u);
    EXPECT_EQ(o->bi.memory_map[2].type, 2u);
}

TEST(BootInfoMb1, MemoryMapEntrySizeZeroStopsTheWalk) {
    Mb1 m;
    m.mmap({{0, 0xa0000, 1}, {0x100000, 0x1000000, 1}});
    m.mem.put32(Mb1::MMAP + 24, 0);  // second entry's size: 0, which would never advance
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error), "multiboot1: memory map entry at offset 24: size 0 < 20");
    EXPECT_EQ(o->bi.memory_map_count, 1u);
}

TEST(BootInfoMb1, MemoryMapEntrySizeTooSmall) {
    Mb1 m;
    m.mmap({{0, 0xa0000, 1}}, 19, 24);
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error), "multiboot1: memory map entry at offset 0: size 19 < 20");
    EXPECT_EQ(o->bi.memory_map_count, 0u);
}

TEST(BootInfoMb1, MemoryMapEntryRunsPastLength) {
    Mb1 m;
    m.mmap({{0, 0xa0000, 1}, {0x100000, 0x1000000, 1}}, 20, 24 + 24);
    m.mem.put32(Mb1::MMAP + 24, 400);
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot1: memory map entry at offset 24: size 400 runs past mmap_length 48");
    EXPECT_EQ(o->bi.memory_map_count, 1u);
}

TEST(BootInfoMb1, MemoryMapStrayBytes) {
    Mb1 m;
    m.mmap({{0, 0xa0000, 1}}, 20, 24 + 10);
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error), "multiboot1: memory map: 10 stray bytes at offset 24");
    EXPECT_EQ(o->bi.memory_map_count, 1u);
}

TEST(BootInfoMb1, MemoryMapLengthBeyondMemory) {
    Mb1 m;
    m.mmap({{0, 0xa0000, 1}}, 20, 0xffffffff);
    auto o = m.parse();
    // The walk reads zeroes (size 0) right after the one real entry, well inside memory.
    EXPECT_EQ(o->only(Severity::error), "multiboot1: memory map entry at offset 24: size 0 < 20");
    EXPECT_EQ(o->bi.memory_map_count, 1u);

    Mb1 n;
    n.flags |= mb1::INFO_MEM_MAP;
    n.field(mb1::OFF_MMAP_LENGTH, 0xffffffff);
    n.field(mb1::OFF_MMAP_ADDR, static_cast<u32>(n.mem.end() - 2));
    auto p = n.parse();
    EXPECT_EQ(p->only(Severity::error), "multiboot1: memory map entry at 0x10fffe unreadable");
}

TEST(BootInfoMb1, MemoryMapCapacity) {
    Mb1 m;
    std::vector<Range> many;
    for (u64 i = 0; i < 200; ++i) many.push_back({i * 0x10000, 0x10000, 1});
    m.mmap(many);
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot1: more than 128 memory map entries, the rest ignored");
    ASSERT_EQ(o->bi.memory_map_count, BootInfo::MAX_MEMORY_RANGES);
    EXPECT_EQ(o->bi.memory_map[127].base, 127u * 0x10000);
}

TEST(BootInfoMb1, MemoryMapWrappingAndEmptyRanges) {
    Mb1 m;
    m.mmap({{0xfffffffffffff000, 0x2000, 2},
            {0x1000, 0, 1},
            {0xfffffffffffff000, 0x1000, 2},
            {0, 0x1000, 1}});
    auto o = m.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot1: memory range 0xfffffffffffff000+0x2000 wraps, ignored");
    ASSERT_EQ(o->bi.memory_map_count, 2u);                     // the empty one is dropped silently
    EXPECT_EQ(o->bi.memory_map[0].base, 0xfffffffffffff000u);  // ends exactly at 2^64
    EXPECT_EQ(o->bi.memory_map[1].base, 0u);
}

// ---------------------------------------------------------------------------------------------
// Multiboot2 structures, built tag by tag.

struct Mb2 {
    std::vector<u8> blob = std::vector<u8>(8, 0);
    std::optional<u32> total_override;

    static void append32(std::vector<u8>& v, u32 x) {
        for (int i = 0; i < 4; ++i) v.push_back(static_cast<u8>(x >> (8 * i)));
    }
    static void append64(std::vector<u8>& v, u64 x) {
        for (int i = 0; i < 8; ++i) v.push_back(static_cast<u8>(x >> (8 * i)));
    }
    void raw_tag(u32 type, u32 size_field, const std::vector<u8>& payload, bool pad = true) {
        append32(blob, type);
        append32(blob, size_field);
        blob.insert(blob.end(), payload.begin(), payload.end());
        while (pad && blob.size() % 8) blob.push_back(0);
    }
    void tag(u32 type, const std::vector<u8>& payload) {
        raw_tag(type, static_cast<u32>(8 + payload.size()), payload);
    }
    static std::vector<u8> str(const std::string& s, bool nul = true) {
        std::vector<u8> v(s.begin(), s.end());
        if (nul) v.push_back(0);
        return v;
    }
    void cmdline(const std::string& s) { tag(mb2::TAG_CMDLINE, str(s)); }
    void loader(const std::string& s) { tag(mb2::TAG_LOADER_NAME, str(s)); }
    void module(u32 start, u32 end, const std::string& s) {
        std::vector<u8> p;
        append32(p, start);
        append32(p, end);
        auto t = str(s);
        p.insert(p.end(), t.begin(), t.end());
        tag(mb2::TAG_MODULE, p);
    }
    void meminfo(u32 lo, u32 hi) {
        std::vector<u8> p;
        append32(p, lo);
        append32(p, hi);
        tag(mb2::TAG_BASIC_MEMINFO, p);
    }
    void mmap(const std::vector<Range>& ranges, u32 entry_size = 24, u32 version = 0,
              size_t extra = 0) {
        std::vector<u8> p;
        append32(p, entry_size);
        append32(p, version);
        for (const auto& r : ranges) {
            size_t at = p.size();
            append64(p, r.base);
            append64(p, r.length);
            append32(p, r.type);
            p.resize(at + entry_size, 0);
        }
        p.resize(p.size() + extra, 0);
        tag(mb2::TAG_MMAP, p);
    }
    static std::vector<u8> rsdp(size_t len, u8 revision) {
        std::vector<u8> v = str("RSD PTR ", false);
        v.resize(len, 0);
        if (len > 15) v[15] = revision;
        for (size_t i = 16; i < len; ++i) v[i] = static_cast<u8>(i);
        return v;
    }
    void end() { tag(mb2::TAG_END, {}); }

    // Places the structure at `at` in memory that ends `slack` bytes after it.
    std::unique_ptr<FakePhys> place(u64 at = BASE, size_t slack = 0x100) {
        u32 total = total_override.value_or(static_cast<u32>(blob.size()));
        std::memcpy(blob.data(), &total, 4);
        auto mem = std::make_unique<FakePhys>(BASE, at - BASE + blob.size() + slack);
        mem->put(at, blob.data(), blob.size());
        return mem;
    }
    std::unique_ptr<Out> parse(bool expect_ok = true, size_t slack = 0x100) {
        auto mem = place(BASE, slack);
        auto o = std::make_unique<Out>();
        auto r = pv::parse_bootinfo(mb2::BOOTLOADER_MAGIC, BASE, *mem, o->bi, o->d);
        EXPECT_EQ(r.ok(), expect_ok) << ::testing::PrintToString(o->messages());
        return o;
    }
};

TEST(BootInfoMb2, FullStructure) {
    Mb2 b;
    b.cmdline("console=com1 loglvl=all -- root=/dev/vda");
    b.loader("GRUB 2.06-13+deb12u1");
    b.tag(5, {0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});  // BIOS boot device
    b.meminfo(639, 523264);
    b.module(0x1000000, 0x1800000, "/boot/vmlinuz root=/dev/vda");
    b.module(0x1800000, 0x2000000, "/boot/initrd.img");
    b.mmap({{0, 0x9fc00, 1}, {0x100000, 0x1ff00000, 1}, {0xfffc0000, 0x40000, 2}});
    b.tag(mb2::TAG_ACPI_NEW, Mb2::rsdp(36, 2));
    b.tag(21, {0, 0, 0x20, 0});  // load base address: not needed, skipped
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->d.count(), 0u) << ::testing::PrintToString(o->messages());
    const BootInfo& bi = o->bi;
    EXPECT_EQ(bi.protocol, pv::BootProtocol::multiboot2);
    EXPECT_STREQ(bi.cmdline, "console=com1 loglvl=all -- root=/dev/vda");
    EXPECT_STREQ(bi.loader_name, "GRUB 2.06-13+deb12u1");
    EXPECT_TRUE(bi.has_basic_meminfo);
    EXPECT_EQ(bi.mem_upper_kib, 523264u);
    ASSERT_EQ(bi.module_count, 2u);
    EXPECT_EQ(bi.modules[1].start, 0x1800000u);
    EXPECT_EQ(bi.modules[1].end, 0x2000000u);
    EXPECT_STREQ(bi.modules[0].cmdline, "/boot/vmlinuz root=/dev/vda");
    ASSERT_EQ(bi.memory_map_count, 3u);
    EXPECT_EQ(bi.memory_map[1].length, 0x1ff00000u);
    EXPECT_EQ(bi.memory_map[2].type, 2u);
    ASSERT_EQ(bi.rsdp_len, 36u);
    EXPECT_EQ(std::memcmp(bi.rsdp, "RSD PTR ", 8), 0);
    EXPECT_EQ(bi.rsdp[15], 2);
    EXPECT_EQ(bi.rsdp[35], 35);
}

TEST(BootInfoMb2, MinimalStructure) {
    Mb2 b;
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->d.count(), 0u);
    EXPECT_EQ(o->bi.protocol, pv::BootProtocol::multiboot2);
    EXPECT_EQ(o->bi.module_count, 0u);
}

TEST(BootInfoMb2, NeverReadsPastTotalSize) {
    // Memory ends exactly at the end of the structure: any read beyond it is refused, and the
    // fake's exact-size copies make ASan catch a read past a mapping.
    Mb2 b;
    b.cmdline("x");
    b.module(0x1000, 0x2000, "m");
    b.mmap({{0, 0x1000, 1}});
    b.end();
    auto mem = b.place(BASE, 0);
    auto o = std::make_unique<Out>();
    ASSERT_TRUE(pv::parse_bootinfo(mb2::BOOTLOADER_MAGIC, BASE, *mem, o->bi, o->d).ok());
    EXPECT_EQ(o->d.count(), 0u);
    EXPECT_EQ(mem->refused, 0u);
}

TEST(BootInfoMb2, Misaligned) {
    Mb2 b;
    b.end();
    auto mem = b.place(BASE + 4);
    auto o = std::make_unique<Out>();
    auto r = pv::parse_bootinfo(mb2::BOOTLOADER_MAGIC, BASE + 4, *mem, o->bi, o->d);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), XEN_EINVAL);
    EXPECT_EQ(o->only(Severity::error),
              "multiboot2: information at 0x100004 is not 8-byte aligned");
}

TEST(BootInfoMb2, Unreadable) {
    FakePhys mem(BASE, SIZE);
    auto o = std::make_unique<Out>();
    auto r = pv::parse_bootinfo(mb2::BOOTLOADER_MAGIC, 0x8000, mem, o->bi, o->d);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), XEN_EFAULT);
}

TEST(BootInfoMb2, ImpossibleTotalSize) {
    for (u32 total : {0u, 8u, 15u, 1024u * 1024 + 8, 0xffffffffu}) {
        Mb2 b;
        b.end();
        b.total_override = total;
        auto o = b.parse(false);
        EXPECT_EQ(o->only(Severity::error),
                  "multiboot2: total_size " + std::to_string(total) + " impossible");
    }
}

TEST(BootInfoMb2, TotalSizeBeyondMemory) {
    Mb2 b;
    b.end();
    b.total_override = 0x20000;  // plausible, but memory ends sooner
    auto o = b.parse(false);
    EXPECT_EQ(o->only(Severity::error),
              "multiboot2: information at 0x100000 (131072 bytes) unreadable");
}

TEST(BootInfoMb2, ZeroSizedTagStopsTheWalk) {
    Mb2 b;
    b.cmdline("kept");
    b.raw_tag(mb2::TAG_MODULE, 0, {0, 0, 0, 0, 0, 0, 0, 0});
    b.loader("never seen");
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot2: tag 3 at offset 24: size 0 too small, rest ignored");
    EXPECT_STREQ(o->bi.cmdline, "kept");
    EXPECT_STREQ(o->bi.loader_name, "");
}

TEST(BootInfoMb2, TagSmallerThanItsHeader) {
    Mb2 b;
    b.raw_tag(mb2::TAG_CMDLINE, 7, {'a', 0, 0, 0, 0, 0, 0, 0});
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot2: tag 1 at offset 8: size 7 too small, rest ignored");
}

TEST(BootInfoMb2, TagRunsPastTotalSize) {
    Mb2 b;
    b.meminfo(1, 2);
    b.raw_tag(mb2::TAG_CMDLINE, 4096, Mb2::str("abc"));
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot2: tag 1 at offset 24: size 4096 runs past total_size 48, rest ignored");
    EXPECT_TRUE(o->bi.has_basic_meminfo);  // what came before is kept
    EXPECT_STREQ(o->bi.cmdline, "");
}

TEST(BootInfoMb2, HugeTagSizeDoesNotWrap) {
    Mb2 b;
    b.raw_tag(mb2::TAG_CMDLINE, 0xfffffff8, Mb2::str("abc"));
    b.end();
    auto o = b.parse();
    EXPECT_TRUE(o->d.contains("size 4294967288 runs past total_size"));
}

TEST(BootInfoMb2, MissingEndTag) {
    Mb2 b;
    b.cmdline("no end");
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::error), "multiboot2: no end tag before total_size 24");
    EXPECT_STREQ(o->bi.cmdline, "no end");

    Mb2 c;  // the last tag is not padded to 8 and nothing follows
    c.raw_tag(mb2::TAG_CMDLINE, 8 + 3, Mb2::str("ab"), false);
    auto p = c.parse();
    EXPECT_EQ(p->only(Severity::error), "multiboot2: no end tag before total_size 19");
    EXPECT_STREQ(p->bi.cmdline, "ab");

    Mb2 d;  // a header-sized fragment is left at the end
    d.cmdline("x");
    d.blob.resize(d.blob.size() + 4, 0);
    auto q = d.parse();
    EXPECT_TRUE(q->d.contains("no end tag"));
}

TEST(BootInfoMb2, UnterminatedStrings) {
    Mb2 b;
    b.tag(mb2::TAG_CMDLINE, Mb2::str("noreboot", false));
    b.tag(mb2::TAG_LOADER_NAME, {});
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->messages(),
              (std::vector<std::string>{"multiboot2: command line not NUL-terminated",
                                        "multiboot2: boot loader name not NUL-terminated"}));
    EXPECT_STREQ(o->bi.cmdline, "noreboot");  // only what lies inside the tag
    EXPECT_STREQ(o->bi.loader_name, "");
}

TEST(BootInfoMb2, OverlongStrings) {
    Mb2 b;
    b.cmdline(std::string(2000, 'c'));
    b.loader(std::string(100, 'L'));
    b.tag(mb2::TAG_LOADER_NAME, Mb2::str(std::string(100, 'U'), false));
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->messages(),
              (std::vector<std::string>{"multiboot2: command line truncated to 1023 characters",
                                        "multiboot2: boot loader name truncated to 63 characters",
                                        "multiboot2: boot loader name not NUL-terminated"}));
    EXPECT_EQ(std::string(o->bi.cmdline), std::string(1023, 'c'));
    EXPECT_EQ(std::string(o->bi.loader_name), std::string(63, 'U'));  // the later tag wins
}

TEST(BootInfoMb2, BadModules) {
    Mb2 b;
    b.raw_tag(mb2::TAG_MODULE, 12, {0, 0, 0x10, 0});  // no room for mod_end
    b.module(0x300000, 0x200000, "backwards");
    b.module(0x400000, 0x500000, "good");
    b.tag(mb2::TAG_MODULE, {0, 0, 0x60, 0, 0, 0, 0x70, 0});  // no string at all
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->messages(),
              (std::vector<std::string>{
                  "multiboot2: module tag at offset 8: size 12 too small",
                  "multiboot2: module 1 ends (0x200000) before it starts (0x300000), ignored",
                  "multiboot2: module 3 command line not NUL-terminated"}));
    ASSERT_EQ(o->bi.module_count, 2u);
    EXPECT_STREQ(o->bi.modules[0].cmdline, "good");
    EXPECT_EQ(o->bi.modules[1].start, 0x600000u);
    EXPECT_EQ(o->bi.modules[1].end, 0x700000u);
    EXPECT_STREQ(o->bi.modules[1].cmdline, "");
}

TEST(BootInfoMb2, TooManyModules) {
    Mb2 b;
    for (u32 i = 0; i < 40; ++i)
        b.module(i * 0x1000, i * 0x1000 + 0x1000, "mod" + std::to_string(i));
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot2: more than 32 modules, module 32 and later ignored");
    ASSERT_EQ(o->bi.module_count, 32u);
    EXPECT_STREQ(o->bi.modules[31].cmdline, "mod31");
}

TEST(BootInfoMb2, ModuleCmdlineTruncated) {
    Mb2 b;
    b.module(0, 0x1000, std::string(600, 'a'));
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::warning),
              "multiboot2: module 0 command line truncated to 511 characters");
}

TEST(BootInfoMb2, MeminfoTooSmall) {
    Mb2 b;
    b.tag(mb2::TAG_BASIC_MEMINFO, {1, 0, 0, 0});
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::error), "multiboot2: meminfo tag at offset 8: size 12 too small");
    EXPECT_FALSE(o->bi.has_basic_meminfo);
}

TEST(BootInfoMb2, MemoryMapEntrySizeZero) {
    Mb2 b;
    b.tag(mb2::TAG_MMAP, {0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8});
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot2: memory map tag at offset 8: entry_size 0 < 24, ignored");
    EXPECT_EQ(o->bi.memory_map_count, 0u);
}

TEST(BootInfoMb2, MemoryMapEntrySizeTooSmall) {
    Mb2 b;
    b.mmap({{0, 0x1000, 1}}, 20);  // Multiboot 1's entry size is not Multiboot2's
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot2: memory map tag at offset 8: entry_size 20 < 24, ignored");
}

TEST(BootInfoMb2, MemoryMapTagTooSmall) {
    Mb2 b;
    b.tag(mb2::TAG_MMAP, {24, 0, 0, 0});
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot2: memory map tag at offset 8: size 12 too small");
}

TEST(BootInfoMb2, MemoryMapLargerEntriesAndVersion) {
    Mb2 b;
    b.mmap({{0, 0x9f000, 1}, {0x100000, 0x100000, 3}}, 40, 1, 7);
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->messages(), (std::vector<std::string>{
                                 "multiboot2: memory map entry_version 1, reading it as version 0",
                                 "multiboot2: memory map tag at offset 8: 7 stray bytes"}));
    ASSERT_EQ(o->bi.memory_map_count, 2u);
    EXPECT_EQ(o->bi.memory_map[1].base, 0x100000u);
    EXPECT_EQ(o->bi.memory_map[1].type, MemoryRange::ACPI_RECLAIMABLE);
}

TEST(BootInfoMb2, MemoryMapHugeEntrySize) {
    Mb2 b;
    b.mmap({}, 0xfffffff8);
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->d.count(), 0u);  // no whole entry fits: nothing, and no overflow
    EXPECT_EQ(o->bi.memory_map_count, 0u);
}

TEST(BootInfoMb2, MemoryMapCapacityAcrossTags) {
    Mb2 b;
    std::vector<Range> r;
    for (u64 i = 0; i < 100; ++i) r.push_back({i << 20, 1 << 20, 1});
    b.mmap(r);
    b.mmap(r);  // a second map tag appends
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->only(Severity::error),
              "multiboot2: more than 128 memory map entries, the rest ignored");
    EXPECT_EQ(o->bi.memory_map_count, 128u);
    EXPECT_EQ(o->bi.memory_map[100].base, 0u);
}

TEST(BootInfoMb2, AcpiRsdp) {
    Mb2 old_only;
    old_only.tag(mb2::TAG_ACPI_OLD, Mb2::rsdp(20, 0));
    old_only.end();
    auto o = old_only.parse();
    EXPECT_EQ(o->d.count(), 0u);
    EXPECT_EQ(o->bi.rsdp_len, 20u);
    EXPECT_EQ(o->bi.rsdp[15], 0);

    for (bool new_first : {false, true}) {
        Mb2 both;
        if (new_first) both.tag(mb2::TAG_ACPI_NEW, Mb2::rsdp(36, 2));
        both.tag(mb2::TAG_ACPI_OLD, Mb2::rsdp(20, 0));
        if (!new_first) both.tag(mb2::TAG_ACPI_NEW, Mb2::rsdp(36, 2));
        both.end();
        auto p = both.parse();
        EXPECT_EQ(p->bi.rsdp_len, 36u) << new_first;
        EXPECT_EQ(p->bi.rsdp[15], 2) << new_first;
    }
}

TEST(BootInfoMb2, AcpiRsdpTooShort) {
    Mb2 b;
    b.tag(mb2::TAG_ACPI_NEW, Mb2::rsdp(20, 2));
    b.tag(mb2::TAG_ACPI_OLD, Mb2::rsdp(12, 0));
    b.end();
    auto o = b.parse();
    EXPECT_EQ(o->messages(), (std::vector<std::string>{
                                 "multiboot2: ACPI RSDP tag 15 at offset 8: 20 bytes, need 36",
                                 "multiboot2: ACPI RSDP tag 14 at offset 40: 12 bytes, need 20"}));
    EXPECT_EQ(o->bi.rsdp_len, 0u);
}

// ---------------------------------------------------------------------------------------------
// Command-line helpers

TEST(BootInfoCmdline, LoaderPassesImageName) {
    EXPECT_FALSE(pv::loader_passes_image_name("GRUB 2.06"));
    EXPECT_FALSE(pv::loader_passes_image_name("GRUB 2.06-13+deb12u1"));
    EXPECT_FALSE(pv::loader_passes_image_name("GRUB 1.99"));
    EXPECT_TRUE(pv::loader_passes_image_name("GNU GRUB 0.97"));
    EXPECT_TRUE(pv::loader_passes_image_name("qemu"));
    EXPECT_TRUE(pv::loader_passes_image_name(""));
}

TEST(BootInfoCmdline, Cook) {
    auto cook = [](const char* line, const char* loader) {
        pv::StrView v = pv::cmdline_cook(line, loader);
        return std::string(v.ptr, v.len);
    };
    EXPECT_EQ(cook("/boot/pvisor.elf console=com1 noreboot", "qemu"), "console=com1 noreboot");
    EXPECT_EQ(cook("  xen.gz   a b ", "qemu"), "a b ");
    EXPECT_EQ(cook("xen.gz", "qemu"), "");
    EXPECT_EQ(cook("", "qemu"), "");
    EXPECT_EQ(cook("  console=com1 noreboot", "GRUB 2.06"), "console=com1 noreboot");
    EXPECT_EQ(cook("\tnoreboot", "GRUB 2.12"), "noreboot");
}

TEST(BootInfoCmdline, ModuleArgs) {
    auto split = [](const char* line) {
        pv::ModuleArgs a = pv::parse_module_args(line);
        return std::make_pair(std::string(a.file.ptr, a.file.len),
                              std::string(a.args.ptr, a.args.len));
    };
    using P = std::pair<std::string, std::string>;
    EXPECT_EQ(split("vmlinuz root=/dev/vda console=hvc0"),
              P("vmlinuz", "root=/dev/vda console=hvc0"));
    EXPECT_EQ(split("initrd.img"), P("initrd.img", ""));
    EXPECT_EQ(split(""), P("", ""));
    EXPECT_EQ(split("   "), P("", ""));
    EXPECT_EQ(split("  /boot/k   a  b  \n"), P("/boot/k", "a  b"));
    EXPECT_EQ(split("k\targ"), P("k", "arg"));
}

TEST(BootInfoCmdline, QemuBootEndToEnd) {
    // QEMU -kernel pvisor.elf -append "..." -initrd "vmlinuz root=/dev/vda,initrd.img"
    Mb1 m;
    m.loader("qemu");
    m.cmdline("pvisor.elf console=com1 com1=115200,8n1 dom0_mem=512M bogus -- earlyprintk=xen");
    m.modules({{0x800000, 0x900000, "vmlinuz root=/dev/vda"}, {0x900000, 0x980000, "initrd.img"}});
    auto o = m.parse();
    ASSERT_EQ(o->d.count(), 0u);

    auto opts = std::make_unique<pv::BootOptions>();
    pv::parse_cmdline(pv::cmdline_cook(o->bi.cmdline, o->bi.loader_name), *opts, o->d);
    EXPECT_EQ(o->only(Severity::warning), "unknown option 'bogus'");
    EXPECT_TRUE(opts->com1.given);
    EXPECT_EQ(opts->dom0_mem.amount.bytes, 512 * pv::MiB);
    EXPECT_STREQ(opts->dom0_cmdline, "earlyprintk=xen");

    pv::ModuleArgs kernel = pv::parse_module_args(o->bi.modules[0].cmdline);
    EXPECT_EQ(std::string(kernel.file.ptr, kernel.file.len), "vmlinuz");
    EXPECT_EQ(std::string(kernel.args.ptr, kernel.args.len), "root=/dev/vda");
}

}  // namespace
