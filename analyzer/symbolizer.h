// Symbolizer: file offset in an ELF file -> "function" with elfutils'
// libdwfl, at report time. Each file is opened once; the answers for a
// file that cannot be read (gone, not ELF, no symbols) are "path+0xoff".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace faultline::analyzer {

class Symbolizer {
 public:
  Symbolizer();
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // The function containing `file_offset` of the ELF file at `path`
  // (demangled), or "path+0x<offset>" when it cannot be resolved.
  std::string Symbolize(const std::string& path, uint64_t file_offset);

 private:
  struct Module;
  Module* Load(const std::string& path);
  std::unordered_map<std::string, std::unique_ptr<Module>> modules_;
};

}  // namespace faultline::analyzer
