// Xen's toolstack interfaces (domctl, sysctl) from the public headers, as core/xen_abi.hpp brings
// in the guest ABI.  domctl.h pulls in hvm/save.h, which refuses strict ISO mode because its
// structs use anonymous members, a GNU extension GCC accepts in C++ too; __STRICT_ANSI__ is
// hidden for these headers only.
#pragma once
#include "core/xen_abi.hpp"

#pragma push_macro("__STRICT_ANSI__")
#undef __STRICT_ANSI__
#include <xen/domctl.h>
#include <xen/sysctl.h>
#pragma pop_macro("__STRICT_ANSI__")
