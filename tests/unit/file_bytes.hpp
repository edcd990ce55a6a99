// A whole file's bytes, for tests that read build artefacts (kernels, generated vectors).
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

inline std::vector<unsigned char> file_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    EXPECT_TRUE(f.good()) << path;
    return std::vector<unsigned char>(std::istreambuf_iterator<char>(f), {});
}
