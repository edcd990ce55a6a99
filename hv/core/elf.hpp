// ELF loader for PV guest kernels, parsing half: validate an ELF64 x86-64 image, decode its Xen
// ELF notes into the guest's boot parameters, and copy its segments through an interface.
//
// Design.  The image is untrusted: dom0's comes from whoever wrote the boot configuration, a
// domU's from the toolstack.  Every structure is copied out of the byte buffer with mem_copy into
// a local spec-layout struct (the buffer has no alignment guarantee), and every offset, size and
// count is checked against the file, with overflow-checked arithmetic, before anything is read
// through it.  Loops are bounded by counts already checked (program headers, PT_LOADs, sections)
// or advance by at least one 12-byte note header through a bounded range, so no input makes the
// parser spin or read outside [data, data + size).  Every rejection returns EINVAL — Xen's libelf
// itself returns -1 and its callers (the toolstack's xc_dom_parse_elf_kernel, the dom0 builder's
// compatibility check) turn that into -EINVAL — plus a Diagnostics error that names the header,
// segment or note at fault.  Oddities Xen tolerates are warnings.
//
// The three steps follow Xen's libelf (xen/common/libelf/):
//  1. elf_parse ~ elf_init + elf_parse_binary: the header, the program and section header tables
//     and every loadable segment; the load extent [pstart, pend) of the PT_LOADs by p_paddr.
//  2. xen_parse_guest ~ elf_xen_parse: Xen notes from the PT_NOTE segments, else from SHT_NOTE
//     sections, else the legacy "__xen_guest" string; then elf_xen_note_check and
//     elf_xen_addr_calc_check: defaults, the kernel's virtual extent and the sanity checks.
//  3. elf_load ~ elf_load_binary: each PT_LOAD's file bytes, then zeroes up to p_memsz.
//
// Segments are placed by p_paddr, never p_vaddr: a PT_LOAD goes to p_paddr + VIRT_BASE -
// PADDR_OFFSET, exactly as Xen does.  That is not a detail: Linux x86-64 links its per-CPU
// segment at p_vaddr 0 (zero-based per-CPU data) while its p_paddr is inside the kernel, so the
// p_vaddr values do not describe where the image goes.  Overlap and extent are therefore
// computed on p_paddr.  p_vaddr is only checked not to wrap.
//
// Where pvisor is stricter than Xen, it is about inputs no toolchain produces: e_type must be
// ET_EXEC (Xen never looks at e_type, and would load an ET_DYN unrelocated), the header and table
// entry sizes must be the ELF64 ones, PT_LOAD segments must not overlap, numeric notes must have
// 1/2/4/8-byte descriptors (Xen reads other sizes as 0, silently — a VIRT_BASE of 0 by accident)
// and the entry point must lie strictly below the image end (Xen allows entry == end).
#pragma once
#include <stddef.h>

#include "core/diagnostics.hpp"
#include "core/xen_abi.hpp"
#include "lib/result.hpp"
#include "lib/types.hpp"

#include <xen/elfnote.h>
#include <xen/features.h>

namespace pv {

// ---------------------------------------------------------------------------------------------
// ELF64 on-disk structures: System V ABI gABI (Edition 4.1 and the 2013 update), chapter 4
// "Object Files" and chapter 5 "Program Loading", with the 64-bit layouts of the "ELF-64 Object
// File Format" (HP/Intel, version 1.5); EM_X86_64 from the System V AMD64 psABI.  glibc's <elf.h>
// does not exist in the freestanding build.  The structures are read by copying them out of the
// image, never by casting a pointer into it.

namespace elf64 {

inline constexpr usize EI_NIDENT = 16;
inline constexpr usize EI_MAG0 = 0, EI_CLASS = 4, EI_DATA = 5, EI_VERSION = 6;
inline constexpr u8 ELFMAG[4] = {0x7f, 'E', 'L', 'F'};
inline constexpr u8 ELFCLASS32 = 1, ELFCLASS64 = 2;
inline constexpr u8 ELFDATA2LSB = 1, ELFDATA2MSB = 2;
inline constexpr u8 EV_CURRENT = 1;

inline constexpr u16 ET_NONE = 0, ET_REL = 1, ET_EXEC = 2, ET_DYN = 3, ET_CORE = 4;
inline constexpr u16 EM_386 = 3, EM_X86_64 = 62;

inline constexpr u32 PT_NULL = 0, PT_LOAD = 1, PT_DYNAMIC = 2, PT_INTERP = 3, PT_NOTE = 4;
inline constexpr u32 PF_X = 1, PF_W = 2, PF_R = 4;
// e_phnum == PN_XNUM: the real count is in section 0's sh_info (extended numbering).
inline constexpr u16 PN_XNUM = 0xffff;

inline constexpr u32 SHT_NULL = 0, SHT_STRTAB = 3, SHT_NOTE = 7, SHT_NOBITS = 8;
inline constexpr u16 SHN_UNDEF = 0, SHN_LORESERVE = 0xff00;

// Note entries are 4-byte aligned: name and descriptor are each padded to 4 (Xen and Linux use 4
// for ELF64 too, which is what the gABI's note section text says in practice).
inline constexpr u64 NOTE_ALIGN = 4;

struct Ehdr {
    u8 e_ident[EI_NIDENT];
    u16 e_type;
    u16 e_machine;
    u32 e_version;
    u64 e_entry;
    u64 e_phoff;
    u64 e_shoff;
    u32 e_flags;
    u16 e_ehsize;
    u16 e_phentsize;
    u16 e_phnum;
    u16 e_shentsize;
    u16 e_shnum;
    u16 e_shstrndx;
};
static_assert(sizeof(Ehdr) == 64);
static_assert(offsetof(Ehdr, e_entry) == 24 && offsetof(Ehdr, e_phoff) == 32);
static_assert(offsetof(Ehdr, e_shoff) == 40 && offsetof(Ehdr, e_shstrndx) == 62);

struct Phdr {
    u32 p_type;
    u32 p_flags;
    u64 p_offset;
    u64 p_vaddr;
    u64 p_paddr;
    u64 p_filesz;
    u64 p_memsz;
    u64 p_align;
};
static_assert(sizeof(Phdr) == 56);
static_assert(offsetof(Phdr, p_offset) == 8 && offsetof(Phdr, p_paddr) == 24);
static_assert(offsetof(Phdr, p_memsz) == 40 && offsetof(Phdr, p_align) == 48);

struct Shdr {
    u32 sh_name;
    u32 sh_type;
    u64 sh_flags;
    u64 sh_addr;
    u64 sh_offset;
    u64 sh_size;
    u32 sh_link;
    u32 sh_info;
    u64 sh_addralign;
    u64 sh_entsize;
};
static_assert(sizeof(Shdr) == 64);
static_assert(offsetof(Shdr, sh_offset) == 24 && offsetof(Shdr, sh_size) == 32);
static_assert(offsetof(Shdr, sh_entsize) == 56);

struct Nhdr {
    u32 n_namesz;
    u32 n_descsz;
    u32 n_type;
};
static_assert(sizeof(Nhdr) == 12);

}  // namespace elf64

// ---------------------------------------------------------------------------------------------
// Step 1: the ELF image.

struct ElfSegment {
    u32 index = 0;  // program header index, as readelf's "Section to Segment mapping" numbers it
    u32 flags = 0;  // PF_*
    u64 offset = 0;
    u64 filesz = 0;
    u64 vaddr = 0;
    u64 paddr = 0;
    u64 memsz = 0;
};

struct ElfInfo {
    // Linux's vmlinux has 4-5 PT_LOADs; a bound keeps the overlap check and ElfInfo small.
    static constexpr usize MAX_LOAD_SEGMENTS = 16;
    // The span of all PT_LOADs.  1 GiB is Linux's largest KERNEL_IMAGE_SIZE (x86-64 with KASLR),
    // the most any kernel can ask its initial page tables to map; the bound also keeps loading
    // O(image) — Xen's elf_load_binary caps copying at twice the destination for the same reason.
    static constexpr u64 MAX_IMAGE_SPAN = 1 * GiB;

    // The parsed image; elf_load and xen_parse_guest read it again, so it must outlive them.
    const u8* image = nullptr;
    usize size = 0;

    u16 type = 0;   // e_type
    u64 entry = 0;  // e_entry
    u64 phoff = 0;
    u16 phnum = 0;
    u64 shoff = 0;  // 0 with shnum 0: no section header table
    u16 shnum = 0;
    u16 shstrndx = 0;

    // The loadable segments (PT_LOAD with some of R/W/X and a non-zero p_memsz) in program header
    // order, none overlapping another by p_paddr.
    usize load_count = 0;
    ElfSegment load[MAX_LOAD_SEGMENTS];
    // [lowest p_paddr, highest p_paddr + p_memsz) of those segments: Xen's elf->pstart/pend.
    u64 pstart = 0;
    u64 pend = 0;
};

// Validates `data` as an ELF64 little-endian x86-64 executable and fills `out`.  EINVAL, with an
// error in `diags`, when the image cannot be loaded.
Result<void> elf_parse(const u8* data, usize size, ElfInfo& out, Diagnostics& diags);

// ---------------------------------------------------------------------------------------------
// Step 2: the Xen boot parameters (Xen's struct elf_dom_parms).

// PAE_MODE (32-bit guests only; recorded, unused by 64-bit guests): Xen's XEN_PAE_*.
enum class XenPaeMode : u8 { no, yes, extended_cr3, bimodal };

// Where the parameters came from.  It decides PADDR_OFFSET's default.
enum class XenParamSource : u8 { none, notes, legacy_guest_info };

struct XenGuestParams {
    static constexpr u64 UNSET = ~u64{0};    // Xen's UNSET_ADDR
    static constexpr usize STRING_LEN = 16;  // Xen's elf_dom_parms strings, terminator included

    XenParamSource source = XenParamSource::none;
    // Bit n set: a note of type XEN_ELFNOTE n (n <= XEN_ELFNOTE_MAX) was seen (Xen's
    // elf_notes[n].type != XEN_ENT_NONE; e.g. the dom0 builder acts on SUPPORTED_FEATURES only
    // when that note is present).
    u32 notes_seen = 0;

    // Strings, truncated to STRING_LEN - 1 characters as Xen's safe_strcpy does.
    char xen_version[STRING_LEN] = {};    // XEN_VERSION, must start with "xen-3.0"
    char guest_os[STRING_LEN] = {};       // GUEST_OS
    char guest_version[STRING_LEN] = {};  // GUEST_VERSION
    char loader[STRING_LEN] = {};         // LOADER
    XenPaeMode pae = XenPaeMode::no;
    bool bsd_symtab = false;       // BSD_SYMTAB "yes": the kernel wants its symbol table loaded
    bool unmapped_initrd = false;  // MOD_START_PFN != 0
    bool suspend_cancel = false;   // SUSPEND_CANCEL != 0

    u64 virt_base = UNSET;          // VIRT_BASE; 0 after defaults
    u64 paddr_offset = UNSET;       // PADDR_OFFSET; after defaults 0 (notes) or virt_base (legacy)
    u64 virt_entry = UNSET;         // ENTRY; e_entry after defaults
    u64 virt_hypercall = UNSET;     // HYPERCALL_PAGE (stays UNSET: no hypercall page wanted)
    u64 virt_hv_start_low = UNSET;  // HV_START_LOW (32-bit guests)
    u64 p2m_base = UNSET;           // INIT_P2M (stays UNSET: the p2m goes in the bootstrap region)
    u64 phys_entry = UNSET;         // PHYS32_ENTRY (PVH only)
    // L1_MFN_VALID: the first of the mask/value pairs, and how many pairs there were.
    u32 l1_mfn_valid_pairs = 0;
    u64 l1_mfn_valid_mask = 0;
    u64 l1_mfn_valid_value = 0;

    // XENFEAT_* bitmaps: FEATURES names (required ones carry '!') and the SUPPORTED_FEATURES
    // bitmap.  A required feature is also in f_supported, as in Xen.
    u32 f_supported[XENFEAT_NR_SUBMAPS] = {};
    u32 f_required[XENFEAT_NR_SUBMAPS] = {};

    // Computed: a PT_LOAD with p_paddr p goes to virtual address p + virt_offset; the kernel
    // occupies [virt_kstart, virt_kend).
    u64 virt_offset = 0;
    u64 virt_kstart = 0;
    u64 virt_kend = 0;

    bool saw_note(unsigned type) const { return type < 32 && ((notes_seen >> type) & 1); }
    bool feature_supported(unsigned feat) const { return test(f_supported, feat); }
    bool feature_required(unsigned feat) const { return test(f_required, feat); }

private:
    static bool test(const u32 (&map)[XENFEAT_NR_SUBMAPS], unsigned feat) {
        return feat < 32 * XENFEAT_NR_SUBMAPS && ((map[feat / 32] >> (feat % 32)) & 1);
    }
};

// Decodes the Xen parameters of an image elf_parse accepted, applies Xen's defaults and checks
// that the result describes a 64-bit PV kernel pvisor can lay out: built for "xen-3.0" and the
// generic loader or Linux, entry and hypercall page inside the image, the image (from
// VIRT_BASE) canonical and clear of the hypervisor's range.  Whether dom0 or domU operation is
// supported or required (XENFEAT_dom0) is for the domain builder to check.
Result<void> xen_parse_guest(const ElfInfo& elf, XenGuestParams& out, Diagnostics& diags);

// ---------------------------------------------------------------------------------------------
// Step 3: loading.

// Where segments go: the hypervisor's implementation writes into the new domain's frames
// through the bootstrap mappings, the unit tests' into a buffer.  Addresses are guest virtual,
// within [virt_kstart, virt_kend) when the bias comes from XenGuestParams.
class ElfLoadTarget {
public:
    virtual Result<void> copy(u64 dest, const u8* src, u64 len) = 0;
    virtual Result<void> zero(u64 dest, u64 len) = 0;

protected:
    ~ElfLoadTarget() = default;
};

// Copies each loadable segment's file bytes to p_paddr + bias and zero-fills the rest of its
// p_memsz.  The target's first error is returned, with the segment named in `diags`.
Result<void> elf_load(const ElfInfo& elf, u64 bias, ElfLoadTarget& target, Diagnostics& diags);
inline Result<void> elf_load(const ElfInfo& elf, const XenGuestParams& params, ElfLoadTarget& target,
                             Diagnostics& diags) {
    return elf_load(elf, params.virt_offset, target, diags);
}

}  // namespace pv
