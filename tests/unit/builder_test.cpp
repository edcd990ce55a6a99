// The domain builder's format-independent half (guest/lib/builder/layout.cpp, cpio.cpp) on the
// host: layouts as libxenguest computes them (the expected pfns are the ones Xen 4.17's run of
// dom0test reports), page tables walked back from a fake domain's frames, start_info and the
// vCPU context, the real domutest.elf loaded, and cpio archives well formed and broken.
#include "guest/lib/builder/layout.hpp"
#include "guest/lib/builder/cpio.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace pvb;

constexpr u64 VIRT_BASE = 0xffffffff80000000ull;
constexpr u64 MFN_BIAS = 0x40000;  // the fake domain's mfn = pfn + bias, reversed

LayoutInput domu(u64 kernel_pages, u64 nr_pages, u64 ramdisk = 0) {
    LayoutInput in;
    in.virt_base = VIRT_BASE;
    in.virt_kstart = VIRT_BASE;
    in.virt_kend = VIRT_BASE + kernel_pages * PAGE_SIZE - 100;  // the end need not be aligned
    in.nr_pages = nr_pages;
    in.ramdisk_size = ramdisk;
    return in;
}

DomainLayout layout_of(const LayoutInput& in) {
    pv::Diagnostics d;
    Result<DomainLayout> r = compute_layout(in, d);
    EXPECT_TRUE(r.ok()) << d.message(0);
    return r.ok() ? *r : DomainLayout{};
}

// A domain's memory on the host: frames by mfn, with a p2m that scatters them.
class FakeDomain final : public FrameMapper {
public:
    explicit FakeDomain(u64 nr_pages) : p2m(nr_pages) {
        for (u64 pfn = 0; pfn < nr_pages; ++pfn) p2m[pfn] = MFN_BIAS + (nr_pages - 1 - pfn);
    }
    u8* map(u64 mfn) override {
        ++maps;
        auto& f = frames[mfn];
        if (f.empty()) f.assign(PAGE_SIZE, 0xa5);  // fresh memory is not zero
        return f.data();
    }
    const u64* table(u64 mfn) { return reinterpret_cast<const u64*>(map(mfn)); }
    u64 pfn_of(u64 mfn) const { return p2m.size() - 1 - (mfn - MFN_BIAS); }
    // The L1 entry for `va`, or 0 when a level is not present.
    u64 walk(u64 cr3_mfn, u64 va) {
        u64 mfn = cr3_mfn;
        for (int level = 3; level >= 0; --level) {
            u64 e = table(mfn)[(va >> (PAGE_SHIFT + 9 * level)) & 511];
            if (!(e & PTE_P)) return 0;
            if (level == 0) return e;
            EXPECT_EQ(e & ~PTE_ADDR, UPPER_PROT) << "level " << level + 1 << " entry for " << std::hex << va;
            mfn = (e & PTE_ADDR) >> PAGE_SHIFT;
        }
        return 0;
    }

    std::vector<u64> p2m;
    std::map<u64, std::vector<u8>> frames;
    unsigned maps = 0;
};

// ---------------------------------------------------------------------------------------------
// Layout.

TEST(BuilderLayout, SmallDomUAsXen417BuildsIt) {
    // dom0test's "poweroff" domU on Xen 4.17: 8 MiB, a 14-page kernel.
    DomainLayout L = layout_of(domu(14, 2048));
    EXPECT_EQ(L.kernel.pfn, 0u);
    EXPECT_EQ(L.kernel.pages, 14u);
    EXPECT_EQ(L.p2m.pfn, 0xeu);
    EXPECT_EQ(L.p2m.pages, 4u);  // 2048 * 8 bytes
    EXPECT_EQ(L.start_info_pfn, 0x12u);
    EXPECT_EQ(L.xenstore_pfn, 0x13u);
    EXPECT_EQ(L.console_pfn, 0x14u);
    EXPECT_EQ(L.pgtables.pfn, 0x15u);
    EXPECT_EQ(L.pgtables.pages, 5u);  // L4, L3, L2 and two L1s for 4 MiB
    EXPECT_EQ(L.bootstack_pfn, 0x1au);
    EXPECT_EQ(L.virt_pgtab_end, VIRT_BASE + 4 * MiB);
    EXPECT_EQ(L.stack_top(), VIRT_BASE + 0x1b000);
    EXPECT_EQ(L.alloc_end_pfn, 1024u);
    // [L4][L3][L2][L1 L1]
    EXPECT_EQ(L.levels[3].pfn, 0x15u);
    EXPECT_EQ(L.levels[2].pfn, 0x16u);
    EXPECT_EQ(L.levels[1].pfn, 0x17u);
    EXPECT_EQ(L.levels[0].pfn, 0x18u);
    EXPECT_EQ(L.levels[0].count, 2u);
}

TEST(BuilderLayout, RamdiskGoesAfterTheKernelInWholePages) {
    // dom0test's "reboot" domU: 12 MiB and a 5000-byte ramdisk.
    DomainLayout L = layout_of(domu(14, 3072, 5000));
    EXPECT_EQ(L.ramdisk.pfn, 0xeu);
    EXPECT_EQ(L.ramdisk.pages, 2u);
    EXPECT_FALSE(L.ramdisk_unmapped);
    EXPECT_EQ(L.p2m.pfn, 0x10u);
    EXPECT_EQ(L.p2m.pages, 6u);
    EXPECT_EQ(L.start_info_pfn, 0x16u);
    EXPECT_EQ(L.pgtables.pfn, 0x19u);
    EXPECT_EQ(L.bootstack_pfn, 0x1eu);
}

TEST(BuilderLayout, UnmappedRamdiskFollowsTheBootstrapRegion) {
    LayoutInput in = domu(14, 4096, 3 * PAGE_SIZE);
    in.unmapped_ramdisk = true;
    DomainLayout L = layout_of(in);
    EXPECT_TRUE(L.ramdisk_unmapped);
    EXPECT_EQ(L.p2m.pfn, 0xeu);  // nothing between the kernel and the p2m
    EXPECT_EQ(L.ramdisk.pfn, (L.virt_pgtab_end - VIRT_BASE) >> PAGE_SHIFT);
    EXPECT_EQ(L.alloc_end_pfn, L.ramdisk.pfn + 3);
}

TEST(BuilderLayout, TablesCoverThemselvesAndThePadding) {
    // A large kernel pushes the stack near a 4 MiB boundary: the region must grow to keep
    // 512 KiB of padding, and the extra L1s must themselves be mapped.
    for (u64 kernel_pages = 1; kernel_pages < 3000; kernel_pages += 37) {
        DomainLayout L = layout_of(domu(kernel_pages, 16384));
        const u64 stack_end = L.stack_top();
        ASSERT_GE(L.virt_pgtab_end, stack_end + 512 * KiB) << kernel_pages;
        ASSERT_LT(L.virt_pgtab_end, stack_end + 512 * KiB + 4 * MiB + 1) << kernel_pages;
        ASSERT_EQ(L.virt_pgtab_end % (4 * MiB), 0u);
        ASSERT_EQ(L.pgtables.pages, 3 + (L.virt_pgtab_end - VIRT_BASE) / (2 * MiB)) << kernel_pages;
        ASSERT_EQ(L.bootstack_pfn, L.pgtables.end_pfn());
    }
}

// Domains far beyond the builder's own p2m table (256 MiB, 1 GiB, 4 GiB) with a kernel the size
// of Debian's 6.1 vmlinux and an initramfs, against xen.h's start-of-day rules: the elements
// packed in order, each page aligned, the p2m one 8-byte entry a page, the region ending on a
// 4 MiB boundary with at least 512 KiB after the stack, the tables mapping exactly the region.
TEST(BuilderLayout, LargeDomUsKeepTheStartOfDayRules) {
    constexpr u64 LINUX_PAGES = 0x4a80000 / PAGE_SIZE, INITRAMFS = 1030400;
    for (u64 nr_pages : {u64{65536}, u64{262144}, u64{1048576}}) {
        DomainLayout L = layout_of(domu(LINUX_PAGES, nr_pages, INITRAMFS));
        EXPECT_EQ(L.kernel.end_pfn(), L.ramdisk.pfn) << nr_pages;
        EXPECT_EQ(L.ramdisk.pages, (INITRAMFS + PAGE_SIZE - 1) / PAGE_SIZE);
        EXPECT_EQ(L.ramdisk.end_pfn(), L.p2m.pfn);
        EXPECT_EQ(L.p2m.pages, nr_pages * sizeof(u64) / PAGE_SIZE);
        EXPECT_EQ(L.p2m.vstart, L.va(L.p2m.pfn));
        EXPECT_EQ(L.p2m.end_pfn(), L.start_info_pfn);
        EXPECT_EQ(L.xenstore_pfn, L.start_info_pfn + 1);
        EXPECT_EQ(L.console_pfn, L.start_info_pfn + 2);
        EXPECT_EQ(L.pgtables.pfn, L.console_pfn + 1);
        EXPECT_EQ(L.bootstack_pfn, L.pgtables.end_pfn());
        EXPECT_EQ(L.virt_pgtab_end % (4 * MiB), 0u);
        EXPECT_GE(L.virt_pgtab_end, L.stack_top() + 512 * KiB);
        EXPECT_LT(L.virt_pgtab_end, L.stack_top() + 512 * KiB + 4 * MiB);
        EXPECT_EQ(L.pgtables.pages, 3 + (L.virt_pgtab_end - VIRT_BASE) / (2 * MiB));
        EXPECT_EQ(L.alloc_end_pfn, (L.virt_pgtab_end - VIRT_BASE) >> PAGE_SHIFT);
        EXPECT_LE(L.alloc_end_pfn, nr_pages);
    }
}

TEST(BuilderLayout, RefusesWhatDoesNotFit) {
    pv::Diagnostics d;
    EXPECT_EQ(compute_layout(domu(14, 1000), d).error(), XEN_ENOMEM);  // a 4 MiB mapping needs 1024
    EXPECT_TRUE(d.contains("not enough memory for the initial mapping"));
    LayoutInput below = domu(14, 2048);
    below.virt_kstart = VIRT_BASE - PAGE_SIZE;
    EXPECT_EQ(compute_layout(below, d).error(), XEN_EINVAL);
    LayoutInput top = domu(14, 2048);
    top.virt_base = top.virt_kstart = 0xfffffffffff00000ull;
    top.virt_kend = top.virt_kstart + PAGE_SIZE;
    EXPECT_EQ(compute_layout(top, d).error(), XEN_EINVAL);
}

// ---------------------------------------------------------------------------------------------
// Frames.

TEST(BuilderFrames, PageTablesMapTheBootstrapRegion) {
    DomainLayout L = layout_of(domu(600, 4096));  // more than one L1 of kernel
    FakeDomain dom(L.nr_pages);
    pv::Diagnostics d;
    DomainImage img{L, dom.p2m.data(), dom, d};
    ASSERT_TRUE(img.clear_allocated().ok());
    ASSERT_TRUE(build_page_tables(img).ok()) << d.message(0);
    const u64 cr3 = dom.p2m[L.pgtables.pfn];
    for (u64 va = VIRT_BASE; va < L.virt_pgtab_end; va += PAGE_SIZE) {
        const u64 pfn = (va - VIRT_BASE) >> PAGE_SHIFT;
        const u64 e = dom.walk(cr3, va);
        ASSERT_EQ(e & PTE_ADDR, dom.p2m[pfn] << PAGE_SHIFT) << std::hex << va;
        const bool table = pfn >= L.pgtables.pfn && pfn < L.pgtables.end_pfn();
        ASSERT_EQ(e & ~PTE_ADDR, table ? (L1_PROT & ~PTE_RW) : L1_PROT) << std::hex << va;
    }
    EXPECT_EQ(dom.walk(cr3, L.virt_pgtab_end), 0u);
    EXPECT_EQ(dom.walk(cr3, VIRT_BASE - PAGE_SIZE), 0u);
    EXPECT_EQ(dom.walk(cr3, 0), 0u);
    // Nothing but the bootstrap slot in the L4.
    const u64* l4 = dom.table(cr3);
    for (unsigned i = 0; i < 511; ++i) EXPECT_EQ(l4[i], 0u) << i;
}

TEST(BuilderFrames, P2mRamdiskAndStartInfo) {
    DomainLayout L = layout_of(domu(14, 3072, 5000));
    FakeDomain dom(L.nr_pages);
    pv::Diagnostics d;
    DomainImage img{L, dom.p2m.data(), dom, d};
    ASSERT_TRUE(img.clear_allocated().ok());
    ASSERT_TRUE(write_p2m(img).ok());
    std::vector<u8> rd(5000);
    for (size_t i = 0; i < rd.size(); ++i) rd[i] = static_cast<u8>(i * 7);
    ASSERT_TRUE(load_ramdisk(img, rd.data(), rd.size()).ok());
    EXPECT_EQ(load_ramdisk(img, rd.data(), 3 * PAGE_SIZE).error(), XEN_ERANGE);

    for (u64 pfn = 0; pfn < L.nr_pages; ++pfn) {
        const u64 off = pfn * 8;
        const u64* slot = reinterpret_cast<const u64*>(dom.map(dom.p2m[L.p2m.pfn + off / PAGE_SIZE]) + off % PAGE_SIZE);
        ASSERT_EQ(*slot, dom.p2m[pfn]) << pfn;
    }
    const u8* page1 = dom.map(dom.p2m[L.ramdisk.pfn + 1]);
    EXPECT_EQ(page1[0], static_cast<u8>(4096 * 7));
    EXPECT_EQ(page1[5000 - 4096 - 1], static_cast<u8>(4999 * 7));
    EXPECT_EQ(page1[5000 - 4096], 0u);  // cleared, not left as fresh memory

    start_info_t si;
    StartInfoInput sin;
    sin.cmdline = "shutdown=reboot expect_mem=12M";
    sin.shared_info_mfn = 0x1234;
    sin.store_evtchn = 1;
    sin.console_evtchn = 2;
    fill_start_info(si, L, dom.p2m.data(), sin);
    EXPECT_STREQ(si.magic, "xen-3.0-x86_64");
    EXPECT_EQ(si.nr_pages, 3072u);
    EXPECT_EQ(si.shared_info, 0x1234000u);
    EXPECT_EQ(si.flags, static_cast<u32>(SIF_VIRT_P2M_4TOOLS));
    EXPECT_EQ(si.pt_base, L.va(L.pgtables.pfn));
    EXPECT_EQ(si.nr_pt_frames, L.pgtables.pages);
    EXPECT_EQ(si.mfn_list, L.va(L.p2m.pfn));
    EXPECT_EQ(si.store_mfn, dom.p2m[L.xenstore_pfn]);
    EXPECT_EQ(si.console.domU.mfn, dom.p2m[L.console_pfn]);
    EXPECT_EQ(si.console.domU.evtchn, 2u);
    EXPECT_EQ(si.mod_start, L.va(L.ramdisk.pfn));
    EXPECT_EQ(si.mod_len, 2 * PAGE_SIZE);  // the segment, as libxenguest reports it
    EXPECT_STREQ(reinterpret_cast<const char*>(si.cmd_line), "shutdown=reboot expect_mem=12M");

    std::string long_line(2000, 'x');
    sin.cmdline = long_line.c_str();
    fill_start_info(si, L, dom.p2m.data(), sin);
    EXPECT_EQ(strnlen(reinterpret_cast<const char*>(si.cmd_line), MAX_GUEST_CMDLINE), MAX_GUEST_CMDLINE - 1);
}

TEST(BuilderFrames, VcpuContext) {
    DomainLayout L = layout_of(domu(14, 2048));
    FakeDomain dom(L.nr_pages);
    vcpu_guest_context_t ctx;
    fill_vcpu_context(ctx, L, dom.p2m.data(), VIRT_BASE + 0x40);
    EXPECT_EQ(ctx.user_regs.rip, VIRT_BASE + 0x40);
    EXPECT_EQ(ctx.user_regs.rsp, VIRT_BASE + 0x1b000);
    EXPECT_EQ(ctx.kernel_sp, ctx.user_regs.rsp);
    EXPECT_EQ(ctx.user_regs.rsi, L.va(L.start_info_pfn));
    EXPECT_EQ(ctx.user_regs.cs, FLAT_KERNEL_CS);
    EXPECT_EQ(ctx.user_regs.ds, FLAT_KERNEL_DS);
    EXPECT_EQ(ctx.flags, static_cast<unsigned long>(VGCF_in_kernel | VGCF_online));
    EXPECT_EQ(xen_cr3_to_pfn(ctx.ctrlreg[3]), dom.p2m[L.pgtables.pfn]);
}

TEST(BuilderFrames, LoadsDomutest) {
    std::ifstream f(PVG_DOMUTEST_ELF, std::ios::binary);
    ASSERT_TRUE(f) << PVG_DOMUTEST_ELF;
    std::vector<u8> image((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    pv::Diagnostics d;
    ElfInfo elf;
    XenGuestParams params;
    ASSERT_TRUE(elf_parse(image.data(), image.size(), elf, d).ok());
    ASSERT_TRUE(xen_parse_guest(elf, params, d).ok()) << d.message(0);
    LayoutInput in = domu(0, 2048);
    in.virt_base = params.virt_base;
    in.virt_kstart = params.virt_kstart;
    in.virt_kend = params.virt_kend;
    DomainLayout L = layout_of(in);
    FakeDomain dom(L.nr_pages);
    DomainImage img{L, dom.p2m.data(), dom, d};
    ASSERT_TRUE(img.clear_allocated().ok());
    ASSERT_TRUE(load_kernel(img, elf, params).ok()) << d.message(0);
    // Every PT_LOAD's bytes sit at their pseudo-physical place; the rest of memsz is zero.
    for (usize i = 0; i < elf.load_count; ++i) {
        const ElfSegment& s = elf.load[i];
        for (u64 off = 0; off < s.memsz; off += 61) {
            const u64 pa = s.paddr + params.virt_offset - params.virt_base + off;
            const u8 got = dom.map(dom.p2m[pa >> PAGE_SHIFT])[pa & (PAGE_SIZE - 1)];
            ASSERT_EQ(got, off < s.filesz ? image[s.offset + off] : 0) << "segment " << i << " offset " << off;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// cpio.

std::string newc(const std::string& name, const std::string& data, unsigned mode = 0100644,
                 const char* magic = "070701") {
    char head[111];
    snprintf(head, sizeof(head), "%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08zx%08x", magic, 1u, mode, 0u,
             0u, 1u, 0u, static_cast<unsigned>(data.size()), 0u, 0u, 0u, 0u, name.size() + 1, 0u);
    std::string e = std::string(head, 110) + name + '\0';
    e.append((4 - e.size() % 4) % 4, '\0');
    e += data;
    e.append((4 - e.size() % 4) % 4, '\0');
    return e;
}

const u8* bytes(const std::string& s) { return reinterpret_cast<const u8*>(s.data()); }

TEST(Cpio, FindsFilesAndStopsAtTheTrailer) {
    std::string a = newc("manifest", "hello\n") + newc("dir", "", 040755) + newc("domu.elf", "ELF!") +
                    newc("TRAILER!!!", "", 0) + newc("after", "ignored");
    pv::Diagnostics d;
    CpioEntry e;
    ASSERT_TRUE(cpio_find(bytes(a), a.size(), "domu.elf", e, d));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(e.data), e.size), "ELF!");
    ASSERT_TRUE(cpio_find(bytes(a), a.size(), "manifest", e, d));
    EXPECT_EQ(e.size, 6u);
    EXPECT_FALSE(cpio_find(bytes(a), a.size(), "dir", e, d));    // not a regular file
    EXPECT_FALSE(cpio_find(bytes(a), a.size(), "after", e, d));  // past the trailer
    EXPECT_EQ(d.count(), 0u);
    std::string crc = newc("x", "1", 0100644, "070702");
    EXPECT_TRUE(cpio_find(bytes(crc), crc.size(), "x", e, d));
}

TEST(Cpio, RejectsBrokenArchives) {
    const std::string good = newc("file", "0123456789");
    auto broken = [](const std::string& a, const char* why) {
        pv::Diagnostics d;
        CpioReader r(bytes(a), a.size());
        CpioEntry e;
        while (r.next(e, d)) {
        }
        EXPECT_TRUE(r.failed()) << why;
        EXPECT_TRUE(d.contains(why)) << (d.count() ? d.message(0) : "no message");
    };
    broken(good.substr(0, 50), "truncated header");
    broken(good.substr(0, 113), "name runs past");
    broken(good.substr(0, good.size() - 4), "data runs past");
    std::string odc = good;
    odc[5] = '7';
    broken(odc, "bad magic");
    std::string nonhex = good;
    nonhex[20] = 'g';
    broken(nonhex, "not hexadecimal");
    std::string unterminated = good;
    unterminated[110 + 4] = 'X';
    broken(unterminated, "not NUL-terminated");
    // Every truncation of a valid archive is refused or ends cleanly, never read past.
    const std::string two = good + newc("second", std::string(300, 'z'));
    for (size_t n = 0; n < two.size(); ++n) {
        std::vector<u8> exact(two.begin(), two.begin() + static_cast<std::ptrdiff_t>(n));
        pv::Diagnostics d;
        CpioReader r(exact.data(), exact.size());
        CpioEntry e;
        while (r.next(e, d)) {
        }
    }
}

}  // namespace
