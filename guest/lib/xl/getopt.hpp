// Option parsing as xl's commands see it: glibc's getopt_long in its default (permuting) mode.
// Options and operands may be mixed (`xl create cfg -p` and `xl create -p cfg` are alike), "--"
// ends the options, a lone "-" is an operand, short options cluster (-pc), an option argument is
// attached (-w512) or the next word (-w 512), long options are --name, --name=value or
// --name value, and a unique prefix of a long name stands for it.
#pragma once
#include "lib/types.hpp"

namespace xl {

using pv::usize;

struct LongOption {
    const char* name;
    bool has_arg;
    char val;
};

class GetOpt {
public:
    static constexpr int END = -1;
    static constexpr int UNKNOWN = '?';  // optopt() names the option (0 for a long one)

    // argv[0] is the command's name; longopts ends with a {nullptr, ...} entry (or is nullptr).
    GetOpt(int argc, char** argv, const char* optstring, const LongOption* longopts);

    // The next option, UNKNOWN (also for a missing argument), or END.
    int next();
    const char* arg() const { return arg_; }
    char optopt() const { return optopt_; }
    // After END: the operands, in their order.
    int operand_count() const { return nops_; }
    char* operand(int i) const { return ops_[i]; }

private:
    static constexpr int MAX_ARGS = 64;
    int long_option(const char* word);

    int argc_;
    char** argv_;
    const char* optstring_;
    const LongOption* longopts_;
    int ind_ = 1;          // next word
    const char* cluster_ = nullptr;  // rest of a short-option cluster
    const char* arg_ = nullptr;
    char optopt_ = 0;
    char* ops_[MAX_ARGS] = {};
    int nops_ = 0;
};

}  // namespace xl
