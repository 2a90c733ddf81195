#include <gtest/gtest.h>

#include <map>

#include "server/load/path_mix.h"

namespace faultline::load {
namespace {

TEST(LoadPathMix, ParsesWeights) {
  auto mix = ParsePathMix("/:5,/alloc?kb=64:2,/file?kb=16:1");
  ASSERT_TRUE(mix.has_value()) << mix.error().message;
  ASSERT_EQ(mix->size(), 3u);
  EXPECT_EQ((*mix)[0].path, "/");
  EXPECT_EQ((*mix)[0].weight, 5u);
  EXPECT_EQ((*mix)[1].path, "/alloc?kb=64");
  EXPECT_EQ((*mix)[1].weight, 2u);
  EXPECT_EQ((*mix)[2].path, "/file?kb=16");
  EXPECT_EQ((*mix)[2].weight, 1u);
}

TEST(LoadPathMix, DefaultWeightAndColonInPath) {
  auto mix = ParsePathMix("/a,/b:c");
  ASSERT_TRUE(mix.has_value());
  ASSERT_EQ(mix->size(), 2u);
  EXPECT_EQ((*mix)[0].weight, 1u);
  EXPECT_EQ((*mix)[1].path, "/b:c");
  EXPECT_EQ((*mix)[1].weight, 1u);
}

TEST(LoadPathMix, Rejects) {
  for (const char* bad : {"", ",", "/a,", "a:1", "/a:0", "/a:", "/a:1000001", "/a b:1",
                          "/a:99999999999"}) {
    auto mix = ParsePathMix(bad);
    ASSERT_FALSE(mix.has_value()) << bad;
    EXPECT_EQ(mix.error().exit_code, 2) << bad;
    EXPECT_EQ(mix.error().message.find('\n'), std::string::npos);
  }
}

// Over any window of sum(weights) picks, each entry is picked exactly its
// weight: the mix is exact, not merely expected.
TEST(LoadPathMix, PickerIsExact) {
  auto mix = ParsePathMix("/:5,/x:2,/y:1");
  ASSERT_TRUE(mix.has_value());
  PathPicker picker(*mix);
  std::map<size_t, int> counts;
  for (int round = 0; round < 10; ++round) {
    std::map<size_t, int> window;
    for (int i = 0; i < 8; ++i) ++window[picker.Next()];
    EXPECT_EQ(window[0], 5);
    EXPECT_EQ(window[1], 2);
    EXPECT_EQ(window[2], 1);
  }
}

TEST(LoadPathMix, PickerSpreadsPicks) {
  auto mix = ParsePathMix("/a:1,/b:1");
  ASSERT_TRUE(mix.has_value());
  PathPicker picker(*mix);
  size_t prev = picker.Next();
  for (int i = 0; i < 10; ++i) {
    size_t next = picker.Next();
    EXPECT_NE(next, prev);  // equal weights alternate
    prev = next;
  }
}

}  // namespace
}  // namespace faultline::load
