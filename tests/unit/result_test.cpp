#include "lib/result.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

using pv::Result;

Result<int> half(int v) {
    if (v % 2) return pv::error(XEN_EINVAL);
    return v / 2;
}

Result<void> check(bool good) {
    if (!good) return pv::error(XEN_ENOSYS);
    return pv::ok();
}

TEST(Result, ValuePath) {
    auto r = half(10);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(static_cast<bool>(r));
    EXPECT_EQ(r.value(), 5);
    EXPECT_EQ(*r, 5);
    r.value() = 7;
    EXPECT_EQ(*r, 7);
    const auto& cr = r;
    EXPECT_EQ(cr.value(), 7);
}

TEST(Result, ErrorPath) {
    auto r = half(3);
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(static_cast<bool>(r));
    EXPECT_EQ(r.error(), XEN_EINVAL);
}

TEST(Result, AsReturnGivesNegativeErrno) {
    EXPECT_EQ(half(8).as_return(), 4);
    EXPECT_EQ(half(7).as_return(), -22);
    EXPECT_EQ(half(7).as_return(), -static_cast<long>(XEN_EINVAL));
    Result<unsigned> u = 0u;
    EXPECT_EQ(u.as_return(), 0);
    Result<long> neg = pv::error(XEN_EAGAIN);
    EXPECT_EQ(neg.as_return(), -11);
    Result<long> big = 0x7fffffffffffL;
    EXPECT_EQ(big.as_return(), 0x7fffffffffffL);
}

TEST(Result, VoidResult) {
    auto good = check(true);
    EXPECT_TRUE(good.ok());
    EXPECT_TRUE(static_cast<bool>(good));
    EXPECT_EQ(good.as_return(), 0);

    auto bad = check(false);
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.error(), XEN_ENOSYS);
    EXPECT_EQ(bad.as_return(), -38);

    Result<void> dflt;
    EXPECT_TRUE(dflt.ok());
}

TEST(Result, ArrowOperator) {
    Result<std::string> r = std::string("hello");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size(), 5u);
    r->append("!");
    EXPECT_EQ(*r, "hello!");
    Result<std::string> e = pv::error(XEN_ENOMEM);
    EXPECT_EQ(e.error(), XEN_ENOMEM);
}

TEST(Result, ErrnoNames) {
    EXPECT_STREQ(pv::errno_name(XEN_EINVAL), "EINVAL");
    EXPECT_STREQ(pv::errno_name(22), "EINVAL");
    EXPECT_STREQ(pv::errno_name(XEN_ENOSYS), "ENOSYS");
    EXPECT_STREQ(pv::errno_name(XEN_EAGAIN), "EAGAIN");
    EXPECT_STREQ(pv::errno_name(XEN_EPERM), "EPERM");
    EXPECT_STREQ(pv::errno_name(XEN_ECONNREFUSED), "ECONNREFUSED");  // last in Xen's list
}

TEST(Result, ErrnoAliasesUseFirstSpelling) {
    EXPECT_EQ(static_cast<int>(XEN_EWOULDBLOCK), static_cast<int>(XEN_EAGAIN));
    EXPECT_STREQ(pv::errno_name(XEN_EWOULDBLOCK), "EAGAIN");
    EXPECT_STREQ(pv::errno_name(XEN_EDEADLOCK), "EDEADLK");
}

TEST(Result, ErrnoUnknown) {
    EXPECT_STREQ(pv::errno_name(0), "E?");
    EXPECT_STREQ(pv::errno_name(-22), "E?");  // a negated errno is not a name
    EXPECT_STREQ(pv::errno_name(15), "E?");   // a hole in Xen's list (ENOTBLK)
    EXPECT_STREQ(pv::errno_name(9999), "E?");
}

// Counts constructions and destructions so each value's lifetime can be checked exactly.
struct Tracked {
    static inline int live = 0;
    static inline int destroyed = 0;
    static inline int copies = 0;
    int v;
    explicit Tracked(int x) : v(x) { ++live; }
    Tracked(const Tracked& o) : v(o.v) {
        ++live;
        ++copies;
    }
    Tracked(Tracked&& o) noexcept : v(o.v) {
        o.v = -1;
        ++live;
    }
    Tracked& operator=(const Tracked&) = delete;
    ~Tracked() {
        --live;
        ++destroyed;
    }
    static void reset() { live = destroyed = copies = 0; }
};

Result<Tracked> make_tracked(bool good) {
    if (!good) return pv::error(XEN_EBUSY);
    return Tracked(42);
}

TEST(Result, NonTrivialValueDestroyedExactlyOnce) {
    Tracked::reset();
    {
        Result<Tracked> r = Tracked(1);  // the temporary is moved in, then destroyed
        EXPECT_EQ(Tracked::live, 1);
        EXPECT_EQ(r->v, 1);
        EXPECT_EQ(Tracked::destroyed, 1);
    }
    EXPECT_EQ(Tracked::live, 0);
    EXPECT_EQ(Tracked::destroyed, 2);  // the temporary and the held value, once each
    EXPECT_EQ(Tracked::copies, 0);
}

TEST(Result, NonTrivialValueFromFunction) {
    Tracked::reset();
    {
        auto r = make_tracked(true);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->v, 42);
        EXPECT_EQ(Tracked::live, 1);
    }
    EXPECT_EQ(Tracked::live, 0);
    EXPECT_EQ(Tracked::copies, 0);
}

TEST(Result, ErrorHoldsNoValueToDestroy) {
    Tracked::reset();
    {
        auto r = make_tracked(false);
        EXPECT_FALSE(r.ok());
        EXPECT_EQ(r.error(), XEN_EBUSY);
        EXPECT_EQ(Tracked::live, 0);
    }
    EXPECT_EQ(Tracked::live, 0);
    EXPECT_EQ(Tracked::destroyed, 0);  // no destructor runs on a value never constructed
}

TEST(Result, CopyDuplicatesValue) {
    Tracked::reset();
    {
        Result<Tracked> a = Tracked(5);
        int after_construct = Tracked::destroyed;
        {
            Result<Tracked> b = a;
            EXPECT_EQ(Tracked::live, 2);
            EXPECT_EQ(b->v, 5);
            EXPECT_EQ(Tracked::copies, 1);
        }
        EXPECT_EQ(Tracked::live, 1);
        EXPECT_EQ(Tracked::destroyed, after_construct + 1);
        EXPECT_EQ(a->v, 5);

        Result<Tracked> e = pv::error(XEN_EINVAL);
        Result<Tracked> e2 = e;
        EXPECT_FALSE(e2.ok());
        EXPECT_EQ(e2.error(), XEN_EINVAL);
        EXPECT_EQ(Tracked::live, 1);
    }
    EXPECT_EQ(Tracked::live, 0);
}

TEST(Result, StringValueNoLeak) {
    // Under ASan, a missing destructor on a heap-owning value shows as a leak.
    Result<std::string> r = std::string(100, 'x');
    Result<std::string> c = r;
    EXPECT_EQ(c->size(), 100u);
}

}  // namespace
