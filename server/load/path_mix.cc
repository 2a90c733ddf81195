#include "server/load/path_mix.h"

namespace faultline::load {

Result<std::vector<PathWeight>> ParsePathMix(std::string_view spec) {
  std::vector<PathWeight> mix;
  if (spec.empty()) return Fail(2, "--paths: empty mix");
  while (true) {
    size_t comma = spec.find(',');
    std::string_view entry = spec.substr(0, comma);
    if (entry.empty()) return Fail(2, "--paths: empty entry in mix");
    PathWeight pw;
    std::string_view path = entry;
    size_t colon = entry.rfind(':');
    if (colon != std::string_view::npos) {
      std::string_view digits = entry.substr(colon + 1);
      bool all_digits = !digits.empty() &&
                        digits.find_first_not_of("0123456789") == std::string_view::npos;
      if (all_digits) {
        if (digits.size() > 7) {
          return Fail(2, "--paths: weight out of range in '" + std::string(entry) + "'");
        }
        uint32_t w = static_cast<uint32_t>(std::stoul(std::string(digits)));
        if (w < 1 || w > 1000000) {
          return Fail(2, "--paths: weight must be 1..1000000 in '" + std::string(entry) + "'");
        }
        pw.weight = w;
        path = entry.substr(0, colon);
      } else if (digits.empty()) {
        return Fail(2, "--paths: missing weight after ':' in '" + std::string(entry) + "'");
      }
    }
    if (path.empty() || path.front() != '/') {
      return Fail(2, "--paths: path must start with '/' in '" + std::string(entry) + "'");
    }
    for (char c : path) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
        return Fail(2, "--paths: space or control character in '" + std::string(entry) + "'");
      }
    }
    pw.path = std::string(path);
    mix.push_back(std::move(pw));
    if (comma == std::string_view::npos) break;
    spec.remove_prefix(comma + 1);
  }
  return mix;
}

PathPicker::PathPicker(const std::vector<PathWeight>& mix)
    : weights_(mix.size()), current_(mix.size(), 0) {
  for (size_t i = 0; i < mix.size(); ++i) {
    weights_[i] = mix[i].weight;
    total_ += mix[i].weight;
  }
}

size_t PathPicker::Next() {
  size_t best = 0;
  for (size_t i = 0; i < weights_.size(); ++i) {
    current_[i] += weights_[i];
    if (current_[i] > current_[best]) best = i;
  }
  current_[best] -= total_;
  return best;
}

}  // namespace faultline::load
