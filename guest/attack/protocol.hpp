// What domain 0 (guest/dom0test/attack.cpp) and the attacker domU (guest/attack) agree on: the
// parameters domain 0 writes at the end of the attacker's console page, past struct
// xencons_interface, after building it and before starting it (the domain ids and ports exist
// only then), and the grant references domain 0 makes in its own table for each attacker.
#pragma once
#include "guest/lib/types.hpp"
#include "guest/lib/xen.hpp"

#include <xen/io/console.h>

namespace pvg {

inline constexpr u64 ATTACK_PARAMS_MAGIC = 0x736d617261702d61ull;  // "a-params"

struct AttackParams {
    u64 magic;
    domid_t self;           // the attacker's domain id
    domid_t victim;         // the victim's
    u32 victim_port;        // a victim port unbound for domain 0 (its xenstore port)
    u64 victim_mfn;         // a frame of the victim's data region
    u64 dom0_mfn;           // a frame of domain 0's (its granted page)
    u32 flood_port;         // a victim port, allocated by domain 0, offered to the attacker
    u32 dom0_port;          // a domain-0 port offered to the victim
};

inline constexpr usize ATTACK_PARAMS_OFFSET = 4096 - sizeof(AttackParams);
static_assert(sizeof(xencons_interface) <= ATTACK_PARAMS_OFFSET);

// Domain 0's grants for each attacker (domain 0's page A): read-write to the attacker, to the
// victim only, read-only to the attacker, granted to the attacker and revoked before it starts,
// and a reference past the table's end (64 frames of v1 entries).
inline constexpr grant_ref_t GREF_RW = 10, GREF_VICTIMS = 11, GREF_RO = 12, GREF_REVOKED = 13;
inline constexpr grant_ref_t GREF_BEYOND = 64 * 4096 / sizeof(grant_entry_v1_t);
// What the attacker of grant_held_at_death writes into domain 0's page through its mapping.
inline constexpr u64 GRANT_MARKER = 0x6b72616d2d746e67ull;  // "gnt-mark"

}  // namespace pvg
