#include "analyzer/symbolizer.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace faultline::analyzer {

namespace {

const Dwfl_Callbacks kCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = nullptr,
};

std::string Demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || d == nullptr) return name;
  std::string out(d);
  std::free(d);
  return out;
}

std::string Raw(const std::string& path, uint64_t off) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(off));
  return path + buf;
}

}  // namespace

struct Symbolizer::Module {
  Dwfl* dwfl = nullptr;
  Dwfl_Module* mod = nullptr;
  ~Module() {
    if (dwfl) dwfl_end(dwfl);
  }
};

Symbolizer::Symbolizer() = default;
Symbolizer::~Symbolizer() = default;

Symbolizer::Module* Symbolizer::Load(const std::string& path) {
  auto it = modules_.find(path);
  if (it != modules_.end()) return it->second.get();
  auto m = std::make_unique<Module>();
  // Only absolute paths name files; "[vdso]", "[file fd 3]", ... do not.
  if (!path.empty() && path[0] == '/') {
    m->dwfl = dwfl_begin(&kCallbacks);
    if (m->dwfl) {
      dwfl_report_begin(m->dwfl);
      // Base 0: module addresses are the file's own virtual addresses.
      m->mod = dwfl_report_elf(m->dwfl, path.c_str(), path.c_str(), -1, 0, false);
      dwfl_report_end(m->dwfl, nullptr, nullptr);
    }
  }
  Module* raw = m.get();
  modules_.emplace(path, std::move(m));
  return raw;
}

std::string Symbolizer::Symbolize(const std::string& path, uint64_t file_offset) {
  Module* m = Load(path);
  if (m->mod == nullptr) return Raw(path, file_offset);
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(m->mod, &bias);
  if (elf == nullptr) return Raw(path, file_offset);
  size_t nphdr = 0;
  if (elf_getphdrnum(elf, &nphdr) != 0) return Raw(path, file_offset);
  for (size_t i = 0; i < nphdr; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr) continue;
    if (ph.p_type != PT_LOAD) continue;
    if (file_offset < ph.p_offset || file_offset >= ph.p_offset + ph.p_filesz) continue;
    GElf_Addr addr = file_offset - ph.p_offset + ph.p_vaddr + bias;
    GElf_Off off = 0;
    GElf_Sym sym;
    const char* name = dwfl_module_addrinfo(m->mod, addr, &off, &sym, nullptr,
                                            nullptr, nullptr);
    if (name == nullptr || *name == '\0') break;
    return Demangle(name);
  }
  return Raw(path, file_offset);
}

}  // namespace faultline::analyzer
