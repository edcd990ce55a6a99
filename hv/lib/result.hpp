// Result<T>: a value or one of Xen's errno values (xen/errno.h), which is what every hypercall
// eventually returns to a guest (as -errno).  [[nodiscard]]: an error cannot be dropped silently.
#pragma once
#include <concepts>
#include <new>
#include <utility>

#include <xen/errno.h>

#include "lib/types.hpp"

namespace pv {

using Errno = xen_errno;

// Xen's symbolic name of an errno value ("EINVAL"), or "E?" when unknown.
const char* errno_name(int err);

struct Err {
    Errno code;
};
constexpr Err error(Errno e) { return Err{e}; }

// GCC's -Wmaybe-uninitialized cannot see that value_ is only touched while ok_ is set (the same
// false positive libstdc++ silences for std::optional), so it is off for this class only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
template <typename T> class [[nodiscard]] Result {
public:
    Result(const T& v) : ok_(true) { new (&value_) T(v); }             // NOLINT: implicit
    Result(T&& v) : ok_(true) { new (&value_) T(std::move(v)); }       // NOLINT: implicit
    Result(Err e) : ok_(false), err_(e.code) {}                        // NOLINT: implicit
    Result(const Result& o) : ok_(o.ok_), err_(o.err_) {
        if (ok_) new (&value_) T(o.value_);
    }
    Result(Result&& o) : ok_(o.ok_), err_(o.err_) {
        if (ok_) new (&value_) T(std::move(o.value_));
    }
    Result& operator=(const Result&) = delete;
    ~Result() {
        if (ok_) value_.~T();
    }

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    T& value() { return value_; }
    const T& value() const { return value_; }
    T& operator*() { return value_; }
    T* operator->() { return &value_; }
    Errno error() const { return err_; }
    // The hypercall return convention: the value, or -errno.
    long as_return() const
        requires std::convertible_to<T, long>
    {
        return ok_ ? static_cast<long>(value_) : -static_cast<long>(err_);
    }

private:
    bool ok_;
    Errno err_ = static_cast<Errno>(0);
    union {
        T value_;
    };
};
#pragma GCC diagnostic pop

template <> class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Err e) : ok_(false), err_(e.code) {}  // NOLINT: implicit
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    Errno error() const { return err_; }
    long as_return() const { return ok_ ? 0 : -static_cast<long>(err_); }

private:
    bool ok_ = true;
    Errno err_ = static_cast<Errno>(0);
};

inline Result<void> ok() { return {}; }

}  // namespace pv
