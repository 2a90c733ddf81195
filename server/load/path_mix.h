// The weighted endpoint mix of `faultline-load --paths`.
//
// Syntax: comma-separated entries PATH[:WEIGHT], e.g.
//   "/:5,/alloc?kb=64:2,/file?kb=16:1"
// PATH starts with '/', has no spaces or control characters, and may itself
// contain ':' (only a trailing ":DIGITS" is read as the weight). WEIGHT is an
// integer in [1, 1000000], default 1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace faultline::load {

struct PathWeight {
  std::string path;
  uint32_t weight = 1;
};

Result<std::vector<PathWeight>> ParsePathMix(std::string_view spec);

// Deterministic weighted selection (nginx's smooth weighted round-robin):
// over any sum-of-weights consecutive picks, entry i is picked exactly
// weight_i times, and picks of one entry are spread out rather than bunched.
class PathPicker {
 public:
  explicit PathPicker(const std::vector<PathWeight>& mix);
  // Index into the mix.
  size_t Next();

 private:
  std::vector<int64_t> weights_;
  std::vector<int64_t> current_;
  int64_t total_ = 0;
};

}  // namespace faultline::load
