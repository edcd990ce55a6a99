// The control interface's arch-neutral rules (core/domctl_rules.hpp): createdomain's checks and
// errno values, the domid rover, getdomaininfo's flags, xenctl_bitmap conversions.
#include <gtest/gtest.h>

#include <set>

#include "core/domctl_rules.hpp"

namespace pv::domctl {
namespace {

// What libxl asks for a PV guest (guest/lib/builder does the same).
xen_domctl_createdomain pv_config() {
    xen_domctl_createdomain c{};
    c.max_vcpus = 1;
    c.max_evtchn_port = 1023;
    c.max_grant_frames = 64;
    c.max_maptrack_frames = 0;
    c.grant_opts = XEN_DOMCTL_GRANT_version(1);
    return c;
}

const CreateLimits kLimits{128};

Errno refusal(xen_domctl_createdomain c) {
    Result<void> r = check_createdomain(c, kLimits);
    return r ? Errno{} : r.error();
}

TEST(CreateDomain, PvConfigAcceptedWithOosOffSet) {
    xen_domctl_createdomain c = pv_config();
    ASSERT_TRUE(check_createdomain(c, kLimits));
    EXPECT_EQ(c.flags, XEN_DOMCTL_CDF_oos_off);  // only meaningful for HVM: Xen sets it for PV
    EXPECT_EQ(c.max_grant_frames, 64);
}

TEST(CreateDomain, FlagsAndCounts) {
    auto with = [](auto change) {
        xen_domctl_createdomain c = pv_config();
        change(c);
        return refusal(c);
    };
    EXPECT_EQ(with([](auto& c) { c.flags = 1u << 9; }), XEN_EINVAL);  // unknown CDF flag
    EXPECT_EQ(with([](auto& c) { c.grant_opts |= 0x10; }), XEN_EINVAL);  // unknown grant option
    EXPECT_EQ(with([](auto& c) { c.max_vcpus = 0; }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.max_vcpus = 129; }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.max_vcpus = 128; }), Errno{});
    EXPECT_EQ(with([](auto& c) { c.flags = XEN_DOMCTL_CDF_hap; }), XEN_EINVAL);  // HAP without HVM
    EXPECT_EQ(with([](auto& c) { c.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap; }), XEN_EINVAL);  // no HVM
    EXPECT_EQ(with([](auto& c) { c.flags = XEN_DOMCTL_CDF_iommu; }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.iommu_opts = XEN_DOMCTL_IOMMU_no_sharept; }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.flags = XEN_DOMCTL_CDF_vpmu; }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.flags = XEN_DOMCTL_CDF_nested_virt; }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.vmtrace_size = 4096; }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.arch.misc_flags = 2; }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.arch.misc_flags = XEN_X86_MSR_RELAXED; }), Errno{});
    EXPECT_EQ(with([](auto& c) { c.flags = XEN_DOMCTL_CDF_xs_domain | XEN_DOMCTL_CDF_oos_off; }), Errno{});
}

TEST(CreateDomain, EmulationCpupoolAndGrants) {
    auto with = [](auto change) {
        xen_domctl_createdomain c = pv_config();
        change(c);
        return refusal(c);
    };
    EXPECT_EQ(with([](auto& c) { c.arch.emulation_flags = XEN_X86_EMU_PIT; }), Errno{});
    EXPECT_EQ(with([](auto& c) { c.arch.emulation_flags = XEN_X86_EMU_LAPIC; }), XEN_EOPNOTSUPP);
    EXPECT_EQ(with([](auto& c) { c.arch.emulation_flags = 1u << 20; }), XEN_EINVAL);  // outside EMU_ALL
    EXPECT_EQ(with([](auto& c) { c.cpupool_id = 1; }), XEN_ESRCH);
    EXPECT_EQ(with([](auto& c) { c.grant_opts = XEN_DOMCTL_GRANT_version(0); }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.grant_opts = XEN_DOMCTL_GRANT_version(2); }), Errno{});
    EXPECT_EQ(with([](auto& c) { c.grant_opts = XEN_DOMCTL_GRANT_version(3); }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.max_grant_frames = 0; }), XEN_EINVAL);
    EXPECT_EQ(with([](auto& c) { c.max_grant_frames = -1; }), Errno{});  // the default, 64
    // Defaults are the hypervisor's business: the request is not rewritten.
    xen_domctl_createdomain c = pv_config();
    c.max_grant_frames = -1;
    ASSERT_TRUE(check_createdomain(c, kLimits));
    EXPECT_EQ(c.max_grant_frames, -1);
}

TEST(Domid, GivenIdOrEexist) {
    DomidAllocator a;
    std::set<domid_t> used{0, 5};
    auto is_free = [&](domid_t id) { return !used.count(id); };
    EXPECT_EQ(*a.allocate(7, is_free), 7);
    EXPECT_EQ(a.allocate(5, is_free).error(), XEN_EEXIST);
    EXPECT_EQ(a.rover(), 0);  // a given id leaves the rover alone
}

TEST(Domid, RoverSkipsTakenIdsAndWraps) {
    DomidAllocator a;
    std::set<domid_t> used{0, 1, 2};
    auto is_free = [&](domid_t id) { return !used.count(id); };
    EXPECT_EQ(*a.allocate(0, is_free), 3);
    used.insert(3);
    EXPECT_EQ(*a.allocate(DOMID_SELF, is_free), 4);  // a reserved id also means "allocate"
    used.erase(3);  // destroyed: not reused until the rover comes round
    used.insert(4);
    EXPECT_EQ(*a.allocate(0, is_free), 5);
    for (u32 id = 6; id < DOMID_FIRST_RESERVED; ++id) used.insert(static_cast<domid_t>(id));
    used.insert(5);
    EXPECT_EQ(*a.allocate(0, is_free), 3);  // wrapped past the last ordinary id to 1, 2, then 3
}

TEST(Domid, NoneFreeIsEnomem) {
    DomidAllocator a;
    EXPECT_EQ(a.allocate(0, [](domid_t) { return false; }).error(), XEN_ENOMEM);
    std::set<domid_t> used;
    for (u32 id = 0; id < DOMID_FIRST_RESERVED; ++id) used.insert(static_cast<domid_t>(id));
    used.erase(9);
    auto is_free = [&](domid_t id) { return !used.count(id); };
    EXPECT_EQ(*a.allocate(0, is_free), 9);
    used.insert(9);
    used.erase(9);  // the rover's own id is never tried again (Xen's loop stops there)
    EXPECT_EQ(a.allocate(0, is_free).error(), XEN_ENOMEM);
}

TEST(DomainInfo, FlagsFromVcpus) {
    DomainInfoState running{false, false, false, false, NO_SHUTDOWN_CODE};
    DomainInfoFlags none;
    EXPECT_EQ(none.max_vcpu_id(), XEN_INVALID_MAX_VCPU_ID);
    EXPECT_EQ(none.nr_online(), 0u);
    // No online vCPU: neither blocked nor running; a missing shutdown code fills bits 16-31.
    EXPECT_EQ(none.flags(running), 0xffff0000u);

    DomainInfoFlags f;
    f.add_vcpu(0, {false, true, false});
    f.add_vcpu(1, {true, false, false});  // down: not counted
    EXPECT_EQ(f.nr_online(), 1u);
    EXPECT_EQ(f.max_vcpu_id(), 1u);
    EXPECT_EQ(f.flags(running) & 0xffff, XEN_DOMINF_blocked);
    f.add_vcpu(2, {false, false, true});
    EXPECT_EQ(f.flags(running) & 0xffff, XEN_DOMINF_running);
}

TEST(DomainInfo, ShutdownPausedDying) {
    DomainInfoFlags f;
    f.add_vcpu(0, {false, false, false});
    DomainInfoState s{true, true, true, false, 3};
    u32 flags = f.flags(s);
    EXPECT_EQ(flags & (XEN_DOMINF_dying | XEN_DOMINF_shutdown | XEN_DOMINF_paused),
              XEN_DOMINF_dying | XEN_DOMINF_shutdown | XEN_DOMINF_paused);
    EXPECT_EQ((flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask, 3u);
    EXPECT_EQ(flags >> XEN_DOMINF_shutdownshift, 3u);
    EXPECT_FALSE(flags & XEN_DOMINF_hvm_guest);
}

TEST(MaxMem, KiBToPagesClamped) {
    EXPECT_EQ(max_pages_from_kb(9 * 1024), 2304u);
    EXPECT_EQ(max_pages_from_kb(3), 0u);
    EXPECT_EQ(max_pages_from_kb(~u64{0}), 0xffffffffu);
}

TEST(XenctlBitmap, Conversions) {
    // 2 CPUs, a guest map of 3 bits: one byte exchanged; bits past nr_bits ignored.
    EXPECT_EQ(xenctl_copy_bytes(3, 2), 1u);
    EXPECT_EQ(xenctl_copy_bytes(0, 2), 0u);
    EXPECT_EQ(xenctl_copy_bytes(64, 2), 1u);
    EXPECT_EQ(xenctl_guest_bytes(64), 8u);
    u8 in[1] = {0xff};
    auto m = cpumask_from_bytes<64>(in, 1, 3, 2);
    EXPECT_TRUE(m.test(0));
    EXPECT_TRUE(m.test(1));
    EXPECT_FALSE(m.test(2));  // past nbits
    u8 odd[1] = {0x0a};
    m = cpumask_from_bytes<64>(odd, 1, 1, 8);  // nr_bits 1: only bit 0 counts
    EXPECT_EQ(m.count(), 0u);
    u8 out[1] = {0xee};
    Bitmap<64> two;
    two.set(1);
    two.set(5);
    cpumask_to_bytes(two, out, 1, 2);
    EXPECT_EQ(out[0], 0x02);  // bit 5 is beyond nr_cpu_ids
}

}  // namespace
}  // namespace pv::domctl
