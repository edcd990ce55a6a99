// What the boot loader tells the hypervisor: command line, loader name, modules (dom0's kernel
// and initrd), the firmware memory map and, from Multiboot2 loaders, a copy of the ACPI RSDP.
// Both Multiboot 1 (QEMU -kernel, the way Xen itself is booted there) and Multiboot2 (GRUB) are
// understood; the protocol is told by the magic value the loader leaves in EAX.
//
// Design.  The information structure is boot-loader-written and untrusted: a broken or hostile
// loader can give sizes that run past the structure, zero-sized tags (which would make a naive
// walk spin forever), unterminated strings, modules that end before they start, counts that
// overflow a multiplication, or memory-map entries smaller than an entry.  Everything is read
// through PhysMemory (core/phys.hpp), one bounded range at a time, with each range checked
// against its container before it is mapped; every loop advances by at least one minimal record
// through a bounded range and stops at the fixed capacity of its output array.  Strings are
// copied into bounded buffers of BootInfo, so nothing in it points back into loader memory.
//
// A structure that cannot be read at all fails the parse (Result error); a malformed part of it
// is reported in Diagnostics (shared with the command-line parser) and skipped, so a machine
// whose loader botched one tag can still boot and say why it looks odd.
#pragma once
#include <type_traits>

#include "core/diagnostics.hpp"
#include "core/phys.hpp"
#include "lib/result.hpp"
#include "lib/string.hpp"
#include "lib/types.hpp"

namespace pv {

// The Multiboot Specification, version 0.6.96, §3.2 "Machine state" and §3.3 "Boot information
// format".  Offsets are into the information structure.
namespace multiboot1 {
inline constexpr u32 BOOTLOADER_MAGIC = 0x2BADB002;

inline constexpr u32 INFO_MEMORY = 1u << 0;       // mem_lower, mem_upper
inline constexpr u32 INFO_CMDLINE = 1u << 2;      // cmdline
inline constexpr u32 INFO_MODS = 1u << 3;         // mods_count, mods_addr
inline constexpr u32 INFO_MEM_MAP = 1u << 6;      // mmap_length, mmap_addr
inline constexpr u32 INFO_LOADER_NAME = 1u << 9;  // boot_loader_name

inline constexpr usize OFF_FLAGS = 0;
inline constexpr usize OFF_MEM_LOWER = 4;
inline constexpr usize OFF_MEM_UPPER = 8;
inline constexpr usize OFF_CMDLINE = 16;
inline constexpr usize OFF_MODS_COUNT = 20;
inline constexpr usize OFF_MODS_ADDR = 24;
inline constexpr usize OFF_MMAP_LENGTH = 44;
inline constexpr usize OFF_MMAP_ADDR = 48;
inline constexpr usize OFF_LOADER_NAME = 64;

// Module entry: mod_start, mod_end (exclusive), string, reserved.
inline constexpr usize MODULE_SIZE = 16;
// Memory map entry: u32 size (of the rest of the entry), u64 base_addr, u64 length, u32 type.
// `size` lets a loader append fields, so entries are stepped over by size + 4, never by 24.
inline constexpr usize MMAP_ENTRY_MIN = 20;
}  // namespace multiboot1

// The Multiboot2 Specification, version 2.0, §3.6 "Boot information format": a u32 total_size
// and a reserved u32, then tags (u32 type, u32 size including this header), each starting
// 8-byte aligned, ended by a type 0 tag of size 8.
namespace multiboot2 {
inline constexpr u32 BOOTLOADER_MAGIC = 0x36d76289;

inline constexpr u32 TAG_END = 0;
inline constexpr u32 TAG_CMDLINE = 1;        // string
inline constexpr u32 TAG_LOADER_NAME = 2;    // string
inline constexpr u32 TAG_MODULE = 3;         // u32 mod_start, u32 mod_end, string
inline constexpr u32 TAG_BASIC_MEMINFO = 4;  // u32 mem_lower, u32 mem_upper (KiB)
inline constexpr u32 TAG_MMAP = 6;           // u32 entry_size, u32 entry_version, entries
inline constexpr u32 TAG_ACPI_OLD = 14;      // RSDP, ACPI 1.0 (20 bytes)
inline constexpr u32 TAG_ACPI_NEW = 15;      // RSDP, ACPI 2.0+ (36 bytes)

inline constexpr usize HEADER_SIZE = 8;      // total_size, reserved
inline constexpr usize TAG_HEADER_SIZE = 8;  // type, size
inline constexpr usize TAG_ALIGN = 8;
// Memory map entry: u64 base_addr, u64 length, u32 type, u32 reserved.
inline constexpr usize MMAP_ENTRY_MIN = 24;
}  // namespace multiboot2

enum class BootProtocol : u8 { none, multiboot1, multiboot2 };

struct BootModule {
    static constexpr usize CMDLINE_LEN = 512;
    u64 start = 0;  // physical address of the first byte
    u64 end = 0;    // one past the last byte
    char cmdline[CMDLINE_LEN] = {};

    u64 size() const { return end - start; }
};

// One firmware memory-map (E820) range.  The types are the ones both Multiboot versions use.
struct MemoryRange {
    static constexpr u32 AVAILABLE = 1, RESERVED = 2, ACPI_RECLAIMABLE = 3, ACPI_NVS = 4, BAD = 5;
    u64 base = 0;
    u64 length = 0;
    u32 type = 0;
};

struct BootInfo {
    static constexpr usize CMDLINE_LEN = 1024;  // Xen's COMMAND_LINE_SIZE
    static constexpr usize LOADER_NAME_LEN = 64;
    static constexpr usize MAX_MODULES = 32;
    static constexpr usize MAX_MEMORY_RANGES = 128;
    static constexpr usize RSDP_MAX = 36;  // an ACPI 2.0+ RSDP

    BootProtocol protocol = BootProtocol::none;
    char cmdline[CMDLINE_LEN] = {};
    char loader_name[LOADER_NAME_LEN] = {};
    bool has_basic_meminfo = false;
    u32 mem_lower_kib = 0;  // conventional memory below 1 MiB
    u32 mem_upper_kib = 0;  // memory from 1 MiB to the first hole
    usize module_count = 0;
    BootModule modules[MAX_MODULES];
    usize memory_map_count = 0;
    MemoryRange memory_map[MAX_MEMORY_RANGES];
    usize rsdp_len = 0;  // 0: not given; 20 (Multiboot2 tag 14) or 36 (tag 15)
    u8 rsdp[RSDP_MAX] = {};
};
// parse_bootinfo resets a BootInfo by zeroing it: a BootInfo{} temporary would not fit the
// boot stack.
static_assert(std::is_trivially_copyable_v<BootInfo>);

// Parses the information the boot loader left at physical address info_pa, given the magic it
// left in EAX, into out (reset first).  EINVAL for an unknown magic or an impossible header,
// EFAULT when the structure cannot be read; problems in its parts go to diags.
Result<void> parse_bootinfo(u32 magic, u64 info_pa, const PhysMemory& mem, BootInfo& out,
                            Diagnostics& diags);

// Whether the loader puts the image's file name first in command lines.  Xen's rule
// (loader_is_grub2): everyone but GRUB 2 does — QEMU's -kernel passes "file args".
bool loader_passes_image_name(StrView loader_name);

// Xen's cmdline_cook: the arguments of a kernel or module command line, with leading blanks and,
// when the loader passes it, the image name removed.
StrView cmdline_cook(StrView cmdline, StrView loader_name);

// A module command line as QEMU's -initrd "file args,file2 args" gives it: "file args".
struct ModuleArgs {
    StrView file;
    StrView args;
};
ModuleArgs parse_module_args(StrView cmdline);

}  // namespace pv
