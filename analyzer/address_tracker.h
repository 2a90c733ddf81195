// AddressTracker: the address space of every process through time, shared
// by the analyses (the fault analysis classifies against it, `faultline
// script` names each fault's mapping). A visitor added to the Session after
// Names and before the analyses: it applies /proc maps snapshots, mmap,
// munmap, mremap, brk, mprotect, fork and exec, and for each fault it
// resolves, once, the mapping that held the address at that moment
// (resolved()), which the visitors after it read in their OnFault.
#pragma once

#include <cstdint>

#include "analyzer/address_space.h"
#include "trace/reader.h"

namespace faultline::analyzer {

class AddressTracker : public trace::TraceVisitor {
 public:
  // The current fault's mapping (valid during the OnFault of the visitors
  // added after the tracker, until the next record).
  struct Resolved {
    AddressSpace* space = nullptr;  // the process's (nullptr: none known)
    const Vma* vma = nullptr;       // holding the address (nullptr: none)
    bool below_stack = false;       // grown down to it (stack growth)
  };

  void OnFault(const trace::FaultEvent& f) override;
  void OnMmap(const trace::MmapEvent& m) override;
  void OnTask(const trace::TaskEvent& t) override;
  void OnMapping(const trace::MappingInfo& m) override;

  const Resolved& resolved() const { return resolved_; }
  // The name of the current fault's mapping ("[unknown]" when none).
  const std::string& ResolvedName() const {
    return spaces_.name(resolved_.vma ? resolved_.vma->name : spaces_.unknown_name());
  }
  AddressSpaces& spaces() { return spaces_; }
  const AddressSpaces& spaces() const { return spaces_; }

 private:
  AddressSpaces spaces_;
  Resolved resolved_;
};

}  // namespace faultline::analyzer
