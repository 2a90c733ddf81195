// Endpoint parameter parsing and the memory each endpoint really touches.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <set>
#include <span>
#include <string>
#include <string_view>

#include "server/endpoints.h"
#include "server/patterns.h"
#include "server/server.h"

namespace faultline::server {
namespace {

long MinorFaults() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

TEST(QueryUint, ParsesDecimalValues) {
  EXPECT_EQ(QueryUint("kb=64", "kb", 100), 64u);
  EXPECT_EQ(QueryUint("a=1&kb=7&b=2", "kb", 100), 7u);
  EXPECT_EQ(QueryUint("kb=0", "kb", 100), 0u);
  EXPECT_EQ(QueryUint("xkb=3&kb=4", "kb", 100), 4u);
}

TEST(QueryUint, RejectsBadValues) {
  EXPECT_FALSE(QueryUint("", "kb", 100));
  EXPECT_FALSE(QueryUint("kb", "kb", 100));
  EXPECT_FALSE(QueryUint("kb=", "kb", 100));
  EXPECT_FALSE(QueryUint("kb=12x", "kb", 100));
  EXPECT_FALSE(QueryUint("kb=-1", "kb", 100));
  EXPECT_FALSE(QueryUint("kb=+1", "kb", 100));
  EXPECT_FALSE(QueryUint("kb=101", "kb", 100));
  EXPECT_FALSE(QueryUint("kb=99999999999999999999", "kb", ~0ull));
  EXPECT_FALSE(QueryUint("ms=5", "kb", 100));
}

TEST(HandleEndpoint, StatusCodes) {
  struct Case {
    const char* path;
    const char* query;
    int status;
  } cases[] = {
      {"/", "", 200},
      {"/alloc", "kb=4", 200},
      {"/alloc", "", 400},
      {"/alloc", "kb=abc", 400},
      {"/alloc", "kb=65537", 400},
      {"/stack", "kb=16", 200},
      {"/stack", "kb=4097", 400},
      {"/sleep", "ms=10001", 400},
      {"/sleep", "ms=x", 400},
      {"/cow", "kb=", 400},
      {"/file", "kb=65537", 400},
      {"/nope", "", 404},
      {"/alloc/", "kb=1", 404},
  };
  for (const auto& c : cases) {
    Response r;
    HandleEndpoint("GET", c.path, c.query, "", nullptr, &r);
    EXPECT_EQ(r.status, c.status) << c.path << "?" << c.query;
    EXPECT_LT(r.sleep_ms, 0) << c.path;
  }
}

TEST(HandleEndpoint, SleepIsDeferredNotBlocking) {
  Response r;
  HandleEndpoint("GET", "/sleep", "ms=250", "", nullptr, &r);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.sleep_ms, 250);
}

TEST(HandleEndpoint, AllocFaultsEveryPage) {
  Response r;
  long before = MinorFaults();
  HandleEndpoint("GET", "/alloc", "kb=256", "", nullptr, &r);
  long faults = MinorFaults() - before;
  EXPECT_EQ(r.status, 200);
  // 64 fresh pages, each written once (256 KiB is too small for a huge page).
  EXPECT_GE(faults, 64);
  EXPECT_EQ(r.Body(), "alloc 256 KiB\n");
}

TEST(HandleEndpoint, FileAndCowUseTheStartupResources) {
  auto res = InitResources();
  ASSERT_TRUE(res) << res.error().message;
  Response f;
  HandleEndpoint("GET", "/file", "kb=8", "", *res, &f);
  ASSERT_EQ(f.status, 200);
  EXPECT_EQ(f.Body().size(), 8192u);
  EXPECT_EQ(f.Body().data(), (*res)->file_map);

  Response c;
  long before = MinorFaults();
  HandleEndpoint("GET", "/cow", "kb=256", "", *res, &c);
  long faults = MinorFaults() - before;
  EXPECT_EQ(c.status, 200);
  // Each of the 64 pages: a read fault maps the shared page, the write
  // breaks copy-on-write.
  EXPECT_GE(faults, 64);
}

TEST(HandleEndpoint, EchoReturnsBody) {
  Response r;
  HandleEndpoint("POST", "/echo", "", "abc", nullptr, &r);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Body(), "abc");
}

TEST(ValidateOptions, RejectsUnknownPatternAndBadNumbers) {
  Options o;
  o.pattern = "event-loop";
  o.port = 8080;
  EXPECT_TRUE(ValidateOptions(o));
  for (const auto& p : PatternNames()) {
    o.pattern = p;
    EXPECT_TRUE(ValidateOptions(o)) << p;
  }
  o.pattern = "nginx";
  auto r = ValidateOptions(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().exit_code, 2);
  EXPECT_NE(r.error().message.find("unknown pattern 'nginx'"),
            std::string::npos);
  o.pattern = "prefork";
  o.port = 70000;
  EXPECT_FALSE(ValidateOptions(o));
  o.port = 0;
  o.workers = 0;
  EXPECT_FALSE(ValidateOptions(o));
  o.workers = 2;
  o.drain_timeout_s = 0;
  EXPECT_FALSE(ValidateOptions(o));
  o.drain_timeout_s = 1;
  o.bind = "localhost:1";
  EXPECT_FALSE(ValidateOptions(o));
}

TEST(ParseArgs, BadFlagsExitTwo) {
  const char* a1[] = {"faultline-server", "--pattern", "event-loop", "--port",
                      "x"};
  auto r1 = ParseArgs(5, const_cast<char**>(a1));
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().exit_code, 2);
  const char* a2[] = {"faultline-server", "--bogus"};
  auto r2 = ParseArgs(2, const_cast<char**>(a2));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().exit_code, 2);
  const char* a3[] = {
      "faultline-server", "--pattern", "reuseport", "--port", "0",
      "--workers",        "3"};
  auto r3 = ParseArgs(7, const_cast<char**>(a3));
  ASSERT_TRUE(r3) << r3.error().message;
  EXPECT_EQ(r3->workers, 3);
  EXPECT_EQ(r3->port, 0);
  const char* a4[] = {"faultline-server", "--help"};
  auto r4 = ParseArgs(2, const_cast<char**>(a4));
  ASSERT_FALSE(r4);
  EXPECT_EQ(r4.error().exit_code, 0);
  EXPECT_NE(r4.error().message.find("Examples"), std::string::npos);
}

// The pattern table is the one list: seven distinct names, each with a
// summary and a runner, found by name; --help, --list-patterns and the
// unknown-pattern error all print it.
TEST(PatternTable, OneListForHelpListAndErrors) {
  std::span<const Pattern> table = Patterns();
  ASSERT_EQ(table.size(), 7u);
  std::set<std::string_view> names;
  for (const Pattern& p : table) {
    EXPECT_TRUE(names.insert(p.name).second) << p.name;
    EXPECT_FALSE(p.summary.empty()) << p.name;
    EXPECT_NE(p.run, nullptr) << p.name;
    EXPECT_EQ(FindPattern(p.name), &p);
  }
  EXPECT_EQ(FindPattern("nginx"), nullptr);
  ASSERT_EQ(PatternNames().size(), table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(PatternNames()[i], table[i].name);
  }

  const char* help[] = {"faultline-server", "--help"};
  auto h = ParseArgs(2, const_cast<char**>(help));
  ASSERT_FALSE(h);
  const char* list[] = {"faultline-server", "--list-patterns"};
  auto l = ParseArgs(2, const_cast<char**>(list));
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().exit_code, 0);
  std::string expected_list;
  for (const Pattern& p : table) {
    EXPECT_NE(h.error().message.find(std::string(p.summary)), std::string::npos)
        << p.name;
    EXPECT_NE(PatternList().find(std::string(p.name)), std::string::npos);
    expected_list += std::string(p.name) + "\n";
  }
  EXPECT_EQ(l.error().message, expected_list);
  Options o;
  o.pattern = "nginx";
  o.port = 0;
  auto bad = ValidateOptions(o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("(one of: " + PatternList() + ")"),
            std::string::npos)
      << bad.error().message;
}

}  // namespace
}  // namespace faultline::server
