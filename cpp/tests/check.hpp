// A minimal test harness: CHECK records a failure and goes on; main() returns the count.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "fastort/error.hpp"

namespace fastort::testing {

inline int& failures() {
  static int count = 0;
  return count;
}

inline std::vector<std::pair<const char*, std::function<void()>>>& registry() {
  static std::vector<std::pair<const char*, std::function<void()>>> tests;
  return tests;
}

struct Register {
  Register(const char* name, std::function<void()> body) { registry().emplace_back(name, body); }
};

inline int run_all() {
  for (auto& [name, body] : registry()) {
    const int before = failures();
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  unexpected exception: %s\n", e.what());
      ++failures();
    }
    std::printf("%s %s\n", failures() == before ? "PASS" : "FAIL", name);
  }
  std::printf("%d failure(s)\n", failures());
  return failures() == 0 ? 0 : 1;
}

inline std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace fastort::testing

#define TEST_CASE(name)                                                 \
  static void name();                                                   \
  static ::fastort::testing::Register name##_registration(#name, name); \
  static void name()

#define CHECK(condition)                                                                   \
  do {                                                                                     \
    if (!(condition)) {                                                                    \
      std::fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #condition); \
      ++::fastort::testing::failures();                                                    \
    }                                                                                      \
  } while (0)

// Checks that `statement` throws fastort::Error of `expected_kind`.
#define CHECK_THROWS_KIND(statement, expected_kind)                                          \
  do {                                                                                       \
    bool thrown = false;                                                                     \
    try {                                                                                    \
      statement;                                                                             \
    } catch (const ::fastort::Error& e) {                                                    \
      thrown = e.kind() == (expected_kind);                                                  \
      if (!thrown) std::fprintf(stderr, "  wrong error kind: %s\n", e.what());               \
    }                                                                                        \
    if (!thrown) {                                                                           \
      std::fprintf(stderr, "  %s:%d: %s did not throw %s\n", __FILE__, __LINE__, #statement, \
                   #expected_kind);                                                          \
      ++::fastort::testing::failures();                                                      \
    }                                                                                        \
  } while (0)

#define TEST_MAIN() \
  int main() { return ::fastort::testing::run_all(); }
