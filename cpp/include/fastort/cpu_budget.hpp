// How many CPUs this process may actually use. ONNX Runtime sizes its thread pool from the
// machine's cores and ignores the affinity mask, container CPU quotas and OMP_NUM_THREADS:
// in a container or a pinned worker it oversubscribes the CPUs it is given.
#pragma once

namespace fastort {

struct CpuBudget {
  int online = 1;          // CPUs the machine has online
  int affinity = 1;        // CPUs in this process's affinity mask
  int physical_cores = 1;  // cores (not SMT siblings) among those CPUs
  double quota = 0;        // the cgroup CPU quota in CPUs (cpu.max, cfs_quota); 0: none
  int omp_threads = 0;     // OMP_NUM_THREADS when it is a positive integer; 0: unset

  // Intra-op threads for a session ("auto"): one per physical core the process may use,
  // capped by the quota (rounded down, at least 1) and OMP_NUM_THREADS.
  int session_threads() const noexcept;
  // Threads for data-parallel work such as image transforms: one per usable CPU, with the
  // same caps.
  int worker_threads() const noexcept;
};

// Read once per call from the system (sched_getaffinity, /sys, /proc/self/cgroup); cheap
// enough to call when a session is made, not per run.
CpuBudget cpu_budget();

}  // namespace fastort
