#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <vector>

#include "server/load/options.h"

namespace faultline::load {
namespace {

Result<Options> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "faultline-load");
  return ParseOptions(static_cast<int>(args.size()), args.data());
}

TEST(LoadOptions, Defaults) {
  auto o = Parse({"http://127.0.0.1:8080/x?y=1"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->connections, 10);
  EXPECT_EQ(o->requests, 0u);
  EXPECT_DOUBLE_EQ(o->duration_s, 10);
  EXPECT_EQ(o->target.authority, "127.0.0.1:8080");
  ASSERT_EQ(o->paths.size(), 1u);
  EXPECT_EQ(o->paths[0].path, "/x?y=1");
  EXPECT_FALSE(o->h2);
}

TEST(LoadOptions, AllFlags) {
  auto o = Parse({"http://[::1]:81", "-c", "4", "-n", "100", "--h2", "--streams", "8",
                  "--rate", "500", "--paths", "/:2,/b:1", "--threads", "2", "--timeout", "3",
                  "--json"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->connections, 4);
  EXPECT_EQ(o->requests, 100u);
  EXPECT_TRUE(o->h2);
  EXPECT_EQ(o->streams, 8);
  EXPECT_DOUBLE_EQ(o->rate, 500);
  EXPECT_EQ(o->paths.size(), 2u);
  EXPECT_EQ(o->threads, 2);
  EXPECT_DOUBLE_EQ(o->timeout_s, 3);
  EXPECT_TRUE(o->json);
  EXPECT_EQ(o->target.authority, "[::1]:81");
  EXPECT_EQ(o->target.addr.ss_family, AF_INET6);
}

TEST(LoadOptions, LocalhostIsLoopback) {
  auto t = ParseUrl("http://localhost/");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->authority, "127.0.0.1:80");
  EXPECT_EQ(t->path, "/");
}

TEST(LoadOptions, BadFlagsAreOneLineExitTwo) {
  const std::vector<std::vector<const char*>> bad = {
      {},
      {"http://127.0.0.1/", "--bogus"},
      {"http://127.0.0.1/", "-c", "0"},
      {"http://127.0.0.1/", "-c", "x"},
      {"http://127.0.0.1/", "-d", "1", "-n", "5"},
      {"http://127.0.0.1/", "-d", "0"},
      {"http://127.0.0.1/", "-n", "0"},
      {"http://127.0.0.1/", "--h2", "--close"},
      {"http://127.0.0.1/", "--streams", "4"},
      {"http://127.0.0.1/", "--rate", "-1"},
      {"http://127.0.0.1/", "--paths", "nope"},
      {"http://127.0.0.1/", "--threads", "20", "-c", "2"},
      {"http://127.0.0.1/", "--timeout", "0"},
      {"http://127.0.0.1/", "http://127.0.0.1/"},
      {"http://10.0.0.1/"},         // not loopback
      {"http://example.com/"},      // not an address
      {"http://[2001:db8::1]/"},    // not loopback
      {"https://127.0.0.1/"},
      {"127.0.0.1:80"},
      {"http://127.0.0.1:99999/"},
      {"http://127.0.0.1:/"},
  };
  for (const auto& args : bad) {
    auto o = Parse(args);
    std::string joined;
    for (const char* a : args) joined += std::string(a) + " ";
    ASSERT_FALSE(o.has_value()) << joined;
    EXPECT_EQ(o.error().exit_code, 2) << joined;
    EXPECT_FALSE(o.error().message.empty()) << joined;
    EXPECT_EQ(o.error().message.find('\n'), std::string::npos) << joined;
  }
}

TEST(LoadOptions, Help) {
  auto o = Parse({"--help"});
  ASSERT_TRUE(o.has_value());
  EXPECT_TRUE(o->help);
  EXPECT_NE(HelpText().find("--paths"), std::string::npos);
}

}  // namespace
}  // namespace faultline::load
