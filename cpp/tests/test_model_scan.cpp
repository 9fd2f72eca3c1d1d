// The external data scan over hand-made protobuf bytes, and over damaged ones.
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "check.hpp"
#include "model_scan.hpp"
#include "onnx_writer.hpp"

using fastort::detail::external_data_locations;
using fastort::testing::field;
using fastort::testing::number;

namespace {

// TensorProto: name, raw_data, and external_data/data_location when `location` is given.
std::string tensor(const std::string& name, const std::string& location) {
  std::string bytes = field(8, name) + field(9, std::string(64, 'w'));
  if (!location.empty()) {
    bytes += field(13, field(1, "location") + field(2, location)) + number(14, 1);
  }
  return bytes;
}

std::string model_with(const std::string& graph) {
  return number(1, 8) + field(2, "producer") + field(7, graph);
}

}  // namespace

TEST_CASE(finds_initializers_subgraphs_and_sparse_tensors_once_each) {
  const std::string branch = field(5, tensor("b", "branch.bin"));
  const std::string node = field(5, field(1, "then_branch") + field(6, branch));  // attribute g
  const std::string sparse = field(1, tensor("v", "sparse.bin")) + field(2, tensor("i", ""));
  const std::string graph = field(1, node) + field(5, tensor("w", "w.bin")) +
                            field(5, tensor("inline", "")) + field(5, tensor("w2", "w.bin")) +
                            field(15, sparse);
  const std::string model = model_with(graph);
  const std::vector<std::string> expected = {"branch.bin", "w.bin", "sparse.bin"};
  CHECK(external_data_locations(model) == expected);
  std::istringstream stream(model);
  CHECK(external_data_locations(stream) == expected);
}

TEST_CASE(a_location_without_the_external_flag_is_not_external) {
  const std::string stale = field(8, "w") + field(13, field(1, "location") + field(2, "x.bin"));
  CHECK(external_data_locations(model_with(field(5, stale))).empty());
  CHECK(external_data_locations(std::string()).empty());
}

TEST_CASE(damaged_and_random_bytes_are_read_safely) {
  const std::string model = model_with(field(5, tensor("w", "w.bin")));
  std::mt19937 random(1234);
  for (int round = 0; round < 20000; ++round) {
    std::string damaged = model;
    const int changes = 1 + static_cast<int>(random() % 4);
    for (int c = 0; c < changes; ++c) {
      damaged[random() % damaged.size()] = static_cast<char>(random());
    }
    if (round % 3 == 0) damaged.resize(random() % damaged.size());
    external_data_locations(damaged);  // must not read outside the bytes (ASan checks)
    std::istringstream stream(damaged);
    external_data_locations(stream);
  }
  // Subgraphs nested far beyond protobuf's own limit of 100: graph > node > attribute > graph.
  std::string graph = field(5, tensor("w", "deep.bin"));
  for (int level = 0; level < 3000; ++level) graph = field(1, field(5, field(6, graph)));
  CHECK(external_data_locations(model_with(graph)).empty());
}

TEST_MAIN()
