#include "arch/x86_64/pv/dom0_kernel.hpp"

#include <arch/mm.hpp>

#include "core/bzimage.hpp"
#include "core/console.hpp"

namespace pv::arch::pv {

namespace {

// Used once, at boot, on the BSP; too big for its stack.
constinit XzDecoder g_xz;

void report(const Diagnostics& diags) {
    for (usize i = 0; i < diags.count(); ++i) pv_err("dom0 kernel: %s\n", diags.message(i));
    pv_err("dom0 kernel: not a kernel image pvisor can load\n");
}

}  // namespace

bool Dom0Kernel::unpack(const u8* module, usize len) {
    Diagnostics diags;
    Result<KernelImage> k = kernel_probe(module, len, diags);
    if (!k) {
        report(diags);
        return false;
    }
    if (k->elf) {
        elf_ = k->elf;
        size_ = k->elf_size;
        return true;
    }
    unsigned order = 0;
    while ((usize{PAGE_SIZE} << order) < k->decompressed_size) ++order;
    auto* out = static_cast<u8*>(mm::alloc_pages(order));
    if (!out) {
        pv_err("dom0 kernel: no contiguous %lu MiB to decompress the bzImage into\n", (PAGE_SIZE << order) / MiB);
        return false;
    }
    printk("Dom0 kernel: bzImage protocol %u.%02u, decompressing %zu bytes\n", k->protocol >> 8, k->protocol & 0xff,
           k->decompressed_size);
    if (!kernel_decompress(*k, g_xz, out, PAGE_SIZE << order, diags)) {
        report(diags);
        mm::free_pages(out, order);
        return false;
    }
    frames_ = out;
    order_ = order;
    elf_ = out;
    size_ = k->decompressed_size;
    return true;
}

void Dom0Kernel::release() {
    if (frames_) mm::free_pages(frames_, order_);
    frames_ = nullptr;
    elf_ = nullptr;
    size_ = 0;
}

}  // namespace pv::arch::pv
