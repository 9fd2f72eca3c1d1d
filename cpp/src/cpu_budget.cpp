// Linux reports the budget in the affinity mask, sysfs topology and cgroup files; other
// systems get the hardware thread count and no caps.
#include "fastort/cpu_budget.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#ifdef __linux__
#include <sched.h>
#include <unistd.h>
#endif

namespace fastort {
namespace {

std::string first_line(const std::string& path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return line;
}

int omp_threads() {
  const char* value = std::getenv("OMP_NUM_THREADS");
  if (value == nullptr) return 0;
  // "4" or "4,2" (nested levels: the first is ours); anything else is ignored, as OpenMP does.
  char* end = nullptr;
  const long count = std::strtol(value, &end, 10);
  if (end == value || (*end != '\0' && *end != ',') || count <= 0) return 0;
  return static_cast<int>(std::min<long>(count, 1 << 20));
}

#ifdef __linux__

// A cgroup's CPU quota in CPUs, or 0 when it has none. v2: "max 100000" or "150000 100000".
double quota_v2(const std::string& folder) {
  std::istringstream fields(first_line(folder + "/cpu.max"));
  std::string quota;
  double period = 0;
  if (!(fields >> quota >> period) || quota == "max" || period <= 0) return 0;
  return std::atof(quota.c_str()) / period;
}

double quota_v1(const std::string& folder) {
  const double quota = std::atof(first_line(folder + "/cpu.cfs_quota_us").c_str());
  const double period = std::atof(first_line(folder + "/cpu.cfs_period_us").c_str());
  return quota > 0 && period > 0 ? quota / period : 0;
}

double tighter(double a, double b) { return a <= 0 ? b : b <= 0 ? a : std::min(a, b); }

// The tightest quota on the path from this process's cgroup to the root: a parent's quota
// limits its children too. Containers usually see their own cgroup as the root.
double cgroup_quota() {
  std::ifstream membership("/proc/self/cgroup");
  std::string line;
  double quota = 0;
  while (std::getline(membership, line)) {
    // "0::/path" (v2) or "4:cpu,cpuacct:/path" (v1).
    const size_t first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    const bool v2 = controllers.empty();
    std::string root;
    if (v2) {
      root = "/sys/fs/cgroup";
    } else {
      std::istringstream names(controllers);
      std::string name;
      bool cpu = false;
      while (std::getline(names, name, ',')) cpu = cpu || name == "cpu";
      if (!cpu) continue;
      root = "/sys/fs/cgroup/" + controllers;
      std::ifstream probe(root + "/cpu.cfs_quota_us");
      if (!probe) root = "/sys/fs/cgroup/cpu";
    }
    for (;;) {
      const std::string folder = root + (path == "/" ? "" : path);
      quota = tighter(quota, v2 ? quota_v2(folder) : quota_v1(folder));
      if (path.empty() || path == "/") break;
      path = path.substr(0, path.rfind('/'));
      if (path.empty()) path = "/";
    }
  }
  return quota;
}

#endif

}  // namespace

CpuBudget cpu_budget() {
  CpuBudget budget;
  const unsigned hardware = std::thread::hardware_concurrency();
  budget.online = hardware == 0 ? 1 : static_cast<int>(hardware);
  budget.affinity = budget.physical_cores = budget.online;
#ifdef __linux__
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (online > 0) budget.online = static_cast<int>(online);
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) == 0 && CPU_COUNT(&mask) > 0) {
    budget.affinity = CPU_COUNT(&mask);
    // SMT siblings share a core: count distinct sibling lists among the allowed CPUs.
    std::set<std::string> cores;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &mask)) continue;
      const std::string topology =
          "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/thread_siblings_list";
      std::string siblings = first_line(topology);
      cores.insert(siblings.empty() ? "cpu" + std::to_string(cpu) : siblings);
    }
    budget.physical_cores = static_cast<int>(cores.size());
  } else {
    budget.affinity = budget.physical_cores = budget.online;
  }
  budget.quota = cgroup_quota();
#endif
  budget.omp_threads = omp_threads();
  return budget;
}

namespace {

int capped(int count, const CpuBudget& budget) {
  if (budget.quota > 0) count = std::min(count, std::max(1, static_cast<int>(budget.quota)));
  if (budget.omp_threads > 0) count = std::min(count, budget.omp_threads);
  return std::max(1, count);
}

}  // namespace

int CpuBudget::session_threads() const noexcept { return capped(physical_cores, *this); }

int CpuBudget::worker_threads() const noexcept { return capped(affinity, *this); }

}  // namespace fastort
