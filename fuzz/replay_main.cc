// Runs a libFuzzer target (LLVMFuzzerTestOneInput) without libFuzzer, as a
// plain test: every file of the corpus directories given on the command
// line, then deterministic pseudo-random mutations of them (fixed seed,
// bounded in count and in time). A crash or an abort in the target fails the
// test; so does an empty or missing corpus.
//
//   <name>_replay [--mutations N] [--seconds S] [--seed X] CORPUS_DIR...
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr size_t kMaxInput = 64 * 1024;

// splitmix64: small, fast, and the same sequence on every machine.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) {
    return n == 0 ? 0 : static_cast<size_t>(Next() % n);
  }

 private:
  uint64_t state_;
};

// Byte strings that matter to text protocols (and to HTTP in particular).
constexpr std::string_view kTokens[] = {"\r\n",
                                        "\r\n\r\n",
                                        "\n",
                                        "\r",
                                        " ",
                                        "\t",
                                        ":",
                                        ";",
                                        ",",
                                        "=",
                                        "\"",
                                        "?",
                                        "/",
                                        "0",
                                        "1",
                                        "9",
                                        "f",
                                        "ffffffffffffffff",
                                        "18446744073709551616",
                                        "HTTP/1.1",
                                        "HTTP/1.0",
                                        "HTTP/2.0",
                                        "GET ",
                                        "POST ",
                                        "Host: h\r\n",
                                        "Content-Length: ",
                                        "Transfer-Encoding: chunked\r\n",
                                        "chunked",
                                        "Connection: close\r\n",
                                        "Expect: 100-continue\r\n",
                                        "\r\n0\r\n\r\n",
                                        std::string_view("\0", 1),
                                        "\x7f",
                                        "\xff"};

void Mutate(Rng& rng, const std::vector<std::string>& corpus, std::string* s) {
  const int steps = 1 + static_cast<int>(rng.Below(4));
  for (int i = 0; i < steps; ++i) {
    switch (rng.Below(8)) {
      case 0:  // flip a bit
        if (!s->empty())
          (*s)[rng.Below(s->size())] ^= static_cast<char>(1u << rng.Below(8));
        break;
      case 1:  // set a random byte
        if (!s->empty())
          (*s)[rng.Below(s->size())] = static_cast<char>(rng.Next());
        break;
      case 2:  // insert a random byte
        s->insert(s->begin() + static_cast<long>(rng.Below(s->size() + 1)),
                  static_cast<char>(rng.Next()));
        break;
      case 3: {  // erase a range
        if (s->empty()) break;
        const size_t at = rng.Below(s->size());
        s->erase(at, 1 + rng.Below(std::min<size_t>(16, s->size() - at)));
        break;
      }
      case 4: {  // duplicate a range
        if (s->empty()) break;
        const size_t at = rng.Below(s->size());
        const size_t len = 1 + rng.Below(std::min<size_t>(64, s->size() - at));
        s->insert(rng.Below(s->size() + 1), s->substr(at, len));
        break;
      }
      case 5:
      case 6: {  // insert a token
        const std::string_view t = kTokens[rng.Below(std::size(kTokens))];
        s->insert(rng.Below(s->size() + 1), t);
        break;
      }
      case 7: {  // splice with another input
        const std::string& other = corpus[rng.Below(corpus.size())];
        const size_t cut = rng.Below(s->size() + 1);
        const size_t from = rng.Below(other.size() + 1);
        s->resize(cut);
        s->append(other, from);
        break;
      }
    }
    if (s->size() > kMaxInput) s->resize(kMaxInput);
  }
}

void RunOne(const std::string& s) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

int main(int argc, char** argv) {
  long mutations = 20000;
  double seconds = 20;
  uint64_t seed = 0x6661756c746c696eull;  // "faultlin"
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--mutations" && i + 1 < argc) {
      mutations = std::strtol(argv[++i], nullptr, 10);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::strtod(argv[++i], nullptr);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 0);
    } else {
      dirs.emplace_back(a);
    }
  }
  std::vector<std::string> corpus;
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    if (ec) {
      std::fprintf(stderr, "replay: cannot read %s: %s\n", dir.c_str(),
                   ec.message().c_str());
      return 1;
    }
    std::sort(files.begin(), files.end());  // same order everywhere
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(in),
                          std::istreambuf_iterator<char>());
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr,
                 "replay: no corpus files (usage: %s [--mutations N] "
                 "[--seconds S] [--seed X] CORPUS_DIR...)\n",
                 argv[0]);
    return 1;
  }
  for (const auto& s : corpus) RunOne(s);

  Rng rng(seed);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  long done = 0;
  for (; done < mutations; ++done) {
    if ((done & 63) == 0 && std::chrono::steady_clock::now() >= deadline) break;
    std::string s = corpus[rng.Below(corpus.size())];
    Mutate(rng, corpus, &s);
    RunOne(s);
  }
  std::printf("replay: %zu corpus inputs, %ld mutations (seed %#llx)%s\n",
              corpus.size(), done, static_cast<unsigned long long>(seed),
              done < mutations ? ", stopped at the time limit" : "");
  return 0;
}
