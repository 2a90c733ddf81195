// faultline-server: see docs/server.md and `faultline-server --help`.
#include <cstdio>

#include "server/server.h"

int main(int argc, char** argv) {
  auto opts = faultline::server::ParseArgs(argc, argv);
  if (!opts) {
    if (opts.error().exit_code == 0) {
      std::fputs(opts.error().message.c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "faultline-server: %s\n",
                 opts.error().message.c_str());
    return opts.error().exit_code;
  }
  return faultline::server::RunServer(*opts);
}
