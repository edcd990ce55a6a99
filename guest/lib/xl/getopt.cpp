// getopt_long's permuting mode (getopt.hpp).
#include "guest/lib/xl/getopt.hpp"

#include "lib/string.hpp"

namespace xl {

GetOpt::GetOpt(int argc, char** argv, const char* optstring, const LongOption* longopts)
    : argc_(argc), argv_(argv), optstring_(optstring), longopts_(longopts) {}

int GetOpt::long_option(const char* word) {
    pv::StrView body(word);
    usize eq = body.find('=');
    pv::StrView name = body.substr(0, eq);
    const LongOption* found = nullptr;
    bool ambiguous = false;
    for (const LongOption* o = longopts_; o && o->name; ++o) {
        pv::StrView n(o->name);
        if (n.equals(name)) {
            found = o;
            ambiguous = false;
            break;
        }
        if (n.starts_with(name)) {
            ambiguous = found != nullptr;
            found = o;
        }
    }
    optopt_ = 0;
    if (!found || ambiguous) return UNKNOWN;
    optopt_ = found->val;
    if (found->has_arg) {
        if (eq < body.len) {
            arg_ = word + eq + 1;
        } else if (ind_ < argc_) {
            arg_ = argv_[ind_++];
        } else {
            return UNKNOWN;
        }
    } else if (eq < body.len) {
        return UNKNOWN;
    }
    return found->val;
}

int GetOpt::next() {
    arg_ = nullptr;
    if (!cluster_ || !*cluster_) {
        cluster_ = nullptr;
        for (;;) {
            if (ind_ >= argc_) return END;
            char* w = argv_[ind_++];
            if (w[0] == '-' && w[1] == '-' && w[2] == '\0') {
                while (ind_ < argc_)
                    if (nops_ < MAX_ARGS) ops_[nops_++] = argv_[ind_++];
                    else ++ind_;
                return END;
            }
            if (w[0] == '-' && w[1] == '-') return long_option(w + 2);
            if (w[0] == '-' && w[1] != '\0') {
                cluster_ = w + 1;
                break;
            }
            if (nops_ < MAX_ARGS) ops_[nops_++] = w;
        }
    }
    char c = *cluster_++;
    optopt_ = c;
    const char* spec = c == ':' ? nullptr : optstring_;
    while (spec && *spec && *spec != c) ++spec;
    if (!spec || !*spec) return UNKNOWN;
    if (spec[1] == ':') {
        if (*cluster_) {
            arg_ = cluster_;
        } else if (ind_ < argc_) {
            arg_ = argv_[ind_++];
        } else {
            cluster_ = nullptr;
            return UNKNOWN;
        }
        cluster_ = nullptr;
    }
    return c;
}

}  // namespace xl
